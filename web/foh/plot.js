// uPlot inside Preact: one chart per element, created once, its data replaced as the values change.
import { h } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'

const AXIS = { stroke: '#c9d1d9', grid: { stroke: '#30363d', width: 1 }, ticks: { stroke: '#30363d' }, font: '13px system-ui, sans-serif' }

/** A line chart: `x` and one or more `ys`; `opts` gives the scales and axis labels. */
export function Chart({ x, ys, label, xLog = false, xRange, yRange, xSplits, height = 170, colors = ['#58a6ff', '#f0883e'], xFormat }) {
  const el = useRef(null)
  const plot = useRef(null)
  useEffect(() => {
    const series = [{}, ...ys.map((_, i) => ({ stroke: colors[i % colors.length], width: 2, points: { show: false } }))]
    const width = Math.max(200, Math.min(560, el.current.clientWidth || 320))
    plot.current = new uPlot(
      {
        width,
        height,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, distr: xLog ? 3 : 1, log: 10, range: xRange }, y: { range: yRange } },
        axes: [
          { ...AXIS, ...(xSplits ? { splits: () => xSplits } : {}), values: xFormat ? (_u, vals) => vals.map((v) => (v == null ? '' : xFormat(v))) : undefined },
          { ...AXIS, size: 44 },
        ],
        series,
      },
      [x, ...ys],
      el.current,
    )
    // The chart follows its box (a rotated tablet, a resized window).
    const ro = new ResizeObserver(() => {
      const w = Math.max(200, Math.min(560, el.current?.clientWidth ?? width))
      if (plot.current && Math.abs(plot.current.width - w) > 4) plot.current.setSize({ width: w, height })
    })
    ro.observe(el.current)
    return () => {
      ro.disconnect()
      plot.current?.destroy()
    }
  }, [])
  useEffect(() => {
    plot.current?.setData([x, ...ys])
  }, [x, ...ys])
  return h('figure', { class: 'chart', 'aria-label': label, role: 'img' }, h('div', { ref: el, class: 'plot' }))
}
