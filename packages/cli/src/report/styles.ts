/** The report's inline stylesheet: system fonts only (no downloads), status colours that also carry a text label. */
export const REPORT_CSS = `
:root {
  --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --bg: #ffffff; --panel: #f6f8fa;
  --ok: #1a7f37; --ok-bg: #dafbe1; --bad: #cf222e; --bad-bg: #ffebe9; --warn: #9a6700; --warn-bg: #fff8c5;
  --info: #0969da; --info-bg: #ddf4ff; --run: #8250df; --run-bg: #fbefff; --off: #6e7781; --off-bg: #eaeef2;
}
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg); font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1280px; margin: 0 auto; padding: 24px 24px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 32px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
h3 { font-size: 15px; margin: 0; display: flex; flex-wrap: wrap; gap: 8px; align-items: baseline; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--panel); padding: 8px; border-radius: 6px; margin: 4px 0 0; max-height: 320px; overflow: auto; }
code { word-break: break-word; }
nav { display: flex; gap: 16px; flex-wrap: wrap; margin: 12px 0 0; font-size: 13px; }
a { color: var(--info); text-decoration: none; }
a:hover { text-decoration: underline; }
.muted { color: var(--muted); }
.meta { color: var(--muted); display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 13px; }
.alert { border: 1px solid var(--bad); background: var(--bad-bg); color: var(--bad); border-radius: 6px; padding: 10px 12px; margin: 12px 0 0; white-space: pre-wrap; word-break: break-word; }
.alert.warn { border-color: var(--warn); background: var(--warn-bg); color: var(--warn); }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin-top: 20px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px; background: var(--panel); }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 24px; font-weight: 600; }
.card .breakdown { display: flex; flex-wrap: wrap; gap: 4px; margin-top: 6px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; border: 1px solid currentColor; white-space: nowrap; }
.st-completed, .st-committed, .st-applied, .st-consumed, .st-active.wf { color: var(--ok); background: var(--ok-bg); }
.st-failed, .st-dead, .st-error { color: var(--bad); background: var(--bad-bg); }
.st-suspended, .st-paused, .st-indeterminate { color: var(--warn); background: var(--warn-bg); }
.st-waiting, .st-in_flight, .st-pending, .st-reserved { color: var(--info); background: var(--info-bg); }
.st-running, .st-active { color: var(--run); background: var(--run-bg); }
.st-skipped, .st-draft, .st-archived { color: var(--off); background: var(--off-bg); }
.table-wrap { overflow-x: auto; border: 1px solid var(--line); border-radius: 8px; }
table { border-collapse: collapse; width: 100%; font-size: 13px; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px; border-bottom: 1px solid var(--line); }
th { background: var(--panel); font-weight: 600; white-space: nowrap; }
tr:last-child td { border-bottom: 0; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.err, div.err { color: var(--bad); word-break: break-word; }
td.err { max-width: 360px; }
.session { border: 1px solid var(--line); border-radius: 8px; margin: 0 0 14px; scroll-margin-top: 12px; }
.session > header { padding: 10px 12px; background: var(--panel); border-bottom: 1px solid var(--line); border-radius: 8px 8px 0 0; }
.session > .table-wrap { border: 0; border-radius: 0 0 8px 8px; }
.session.st-border-failed { border-color: var(--bad); }
.session.st-border-suspended { border-color: var(--warn); }
.session.st-border-running { border-color: var(--run); }
.phases { display: flex; list-style: none; margin: 0; padding: 0; }
.phases li { font-size: 11px; padding: 1px 6px; border: 1px solid var(--line); margin-left: -1px; color: var(--off); background: var(--bg); white-space: nowrap; }
.phases li:first-child { border-radius: 4px 0 0 4px; margin-left: 0; }
.phases li:last-child { border-radius: 0 4px 4px 0; }
.phases .ph-done { color: var(--ok); border-color: var(--ok); background: var(--ok-bg); }
.phases .ph-skipped { border-style: dashed; text-decoration: line-through; }
.phases .ph-failed { color: #fff; border-color: var(--bad); background: var(--bad); font-weight: 700; }
.phases .ph-paused { color: var(--fg); border-color: var(--warn); background: #ffd33d; font-weight: 700; }
.phases .ph-waiting { color: #fff; border-color: var(--info); background: var(--info); font-weight: 700; }
.phases .ph-current { color: var(--run); border: 2px solid var(--run); font-weight: 700; }
tr.has-error > td { border-bottom: 0; }
tr.run-error td { padding-top: 0; }
.timeline { width: 100%; height: auto; display: block; border: 1px solid var(--line); border-radius: 8px; background: var(--bg); }
.timeline text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; fill: var(--fg); }
.timeline .axis { stroke: var(--line); }
.timeline .tick { fill: var(--muted); }
.timeline .bar { stroke-width: 1; }
.timeline .bar.completed { fill: var(--ok-bg); stroke: var(--ok); }
.timeline .bar.failed { fill: var(--bad-bg); stroke: var(--bad); }
.timeline .bar.suspended { fill: var(--warn-bg); stroke: var(--warn); }
.timeline .bar.running { fill: url(#lf-open); stroke: var(--run); }
.timeline .mark { stroke: #fff; stroke-width: 1; }
.timeline .mark.committed { fill: var(--ok); }
.timeline .mark.failed { fill: var(--bad); }
.timeline .mark.paused { fill: var(--warn); }
.timeline .mark.waiting { fill: var(--info); }
.timeline .mark.active { fill: var(--run); }
.timeline a:hover .bar { stroke-width: 2; }
.legend { display: flex; flex-wrap: wrap; gap: 8px; margin: 8px 0 0; font-size: 12px; }
.costbar { height: 10px; background: var(--info); border-radius: 3px; min-width: 1px; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; margin: 0 0 12px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
`
