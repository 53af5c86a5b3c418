/** Entries received and sent per sync run over time (sync_log), drawn by uPlot: small, fast, canvas. */
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { Series } from './types.js';

export const COLORS = { received: '#2e7d32', sent: '#1565c0' } as const;

export class HistoryChart {
  private plot: uPlot | undefined;

  constructor(private readonly host: HTMLElement) {}

  update(series: Series): void {
    const data: uPlot.AlignedData = [series.at, series.received, series.sent];
    if (this.plot === undefined) {
      this.plot = new uPlot(this.options(), data, this.host);
      window.addEventListener('resize', () => this.plot?.setSize(this.size()));
    } else {
      this.plot.setData(data);
    }
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(this.host.clientWidth, 280), height: 220 };
  }

  private options(): uPlot.Options {
    const line = (label: string, stroke: string): uPlot.Series => ({
      label,
      stroke,
      width: 2,
      points: { show: true, size: 8, fill: stroke, stroke },
    });
    return {
      ...this.size(),
      scales: { x: { time: true } },
      axes: [{}, { label: 'entries' }],
      series: [{ label: 'time' }, line('received', COLORS.received), line('sent', COLORS.sent)],
    };
  }
}
