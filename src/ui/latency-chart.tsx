/** Request → answer and ping → pong latency over the session's time (uPlot), redrawn at most once a second. */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import type { MessageStore } from './store.js';

export function LatencyChart({ store, version }: { store: MessageStore; version: number }) {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | undefined>(undefined);
  const drawn = useRef(0);
  useEffect(() => {
    const el = box.current!;
    plot.current = new uPlot(
      {
        width: Math.max(300, el.clientWidth),
        height: 180,
        scales: { x: { time: false } },
        axes: [
          { label: 'seconds since open', stroke: '#9aa4b2', grid: { stroke: '#2a313c' } },
          { label: 'ms', stroke: '#9aa4b2', grid: { stroke: '#2a313c' } },
        ],
        series: [
          {},
          { label: 'request → answer', stroke: '#5fb3f9', width: 0, points: { show: true, size: 4, fill: '#5fb3f9' } },
          { label: 'ping → pong', stroke: '#d7a54a', width: 0, points: { show: true, size: 4, fill: '#d7a54a' } },
        ],
      },
      store.latency as uPlot.AlignedData,
      el,
    );
    const resize = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(300, el.clientWidth), height: 180 }));
    resize.observe(el);
    return () => {
      resize.disconnect();
      plot.current?.destroy();
    };
  }, [store]);
  // One draw at most each second, however often batches arrive.
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => {
    if (timer.current !== undefined) return;
    const wait = Math.max(0, 1000 - (performance.now() - drawn.current));
    timer.current = setTimeout(() => {
      timer.current = undefined;
      drawn.current = performance.now();
      plot.current?.setData(store.latency as uPlot.AlignedData);
    }, wait);
  }, [version]);
  useEffect(() => () => clearTimeout(timer.current), []);
  return <div class="chart" ref={box} data-testid="latency-chart" />;
}
