"""The fixed parts of report.html: stylesheet and the small inline script (no external resources)."""

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1400px;color:#222;
padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}
h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin-top:0} .muted{color:#999} .empty{fill:#999;font-style:italic}
.warn{border:2px solid #d9822b;background:#fff4e5;border-radius:6px;padding:8px 14px;margin:12px 0}
.warn ul{margin:4px 0 0 0;padding-left:20px}
.runinfo h2{margin-top:16px}
.runinfo dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 16px;font-size:13px;margin:0}
.runinfo dt{color:#666} .runinfo dd{margin:0;overflow-wrap:anywhere}
.glance{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:220px;max-width:320px}
.card b{font-size:1.1em} .card-none{background:#f7f7f7;color:#666}
.legend-row{display:flex;flex-wrap:wrap;gap:6px 18px;font-size:13px;margin:6px 0}
.legend-item{display:inline-flex;align-items:center;gap:5px} svg.icon{overflow:visible}
.swatch{display:inline-block;width:10px;height:10px;margin-right:5px;border-radius:2px;vertical-align:middle}
.panels{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:18px 24px}
figure.panel{margin:0}
table.key{font-size:12px;width:auto;margin-top:2px} table.key th{cursor:default}
table.key td{text-align:right} table.key td:nth-child(2),table.key td:nth-child(5){text-align:left}
svg.chart{display:block;margin:8px 0;max-width:100%;height:auto;font-size:12px}
.axis{stroke:#444} .tick{stroke:#444} .grid{stroke:#eee} .tick-label{fill:#555;font-size:11px} .axis-label{fill:#333}
.chart-title{font-weight:600;fill:#333} .point-label{fill:#222;font-size:11px;font-weight:600}
.group-title{font-weight:600;fill:#333} .caveat{fill:#b3591b;font-size:11px;font-style:italic}
.front-line{fill:none;stroke:#444;stroke-dasharray:5 3;stroke-width:1.5}
.front-ring{fill:none;stroke:#000;stroke-width:1.5}
.bar-label{fill:#333} .muted-label{fill:#888;font-style:italic} .bar-value{fill:#333}
.spread{stroke-width:2} .box{stroke:none;opacity:.75} .median{stroke:#000;stroke-width:2}

.table-wrap{overflow-x:auto} table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right} td{white-space:nowrap}
th{background:#f5f5f5;cursor:pointer;position:sticky;top:0} td:nth-child(-n+5){text-align:left}
td.warnings{white-space:normal;min-width:200px;text-align:left;color:#b3591b}
#artifact-checks td{white-space:normal;text-align:left} #artifact-checks td:nth-child(-n+3){white-space:nowrap}
#artifact-checks th,table.key th:nth-child(2){text-align:left}
.baseline-row{background:#fffbe6} tr.not-headline td{color:#777;font-style:italic}
details.notes summary{cursor:pointer;color:#555} .notes li{color:#555;margin:4px 0}
"""

# Draws nothing (the charts are static SVG); it records that every chart has marks and a size, and
# any script error, on <body> so a headless browser test can read them from the DOM; and sorts the table.
SCRIPT = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message)); report(); });
  function report() {
    var charts = document.querySelectorAll('svg.chart');
    var drawn = 0;
    charts.forEach(function (svg) {
      var box = svg.getBoundingClientRect();
      if (svg.querySelector('[data-mark]') && box.width > 0 && box.height > 0) { drawn += 1; }
    });
    document.body.setAttribute('data-charts-rendered', String(drawn));
    document.body.setAttribute('data-script-errors', String(errors.length));
    document.body.setAttribute('data-report-ready', 'yes');
  }
  function sortBy(table, column) {
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var ascending = table.getAttribute('data-sort-col') !== String(column) ||
      table.getAttribute('data-sort-dir') === 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[column].getAttribute('data-sort'), y = b.cells[column].getAttribute('data-sort');
      var nx = parseFloat(x), ny = parseFloat(y);
      var order = (isNaN(nx) || isNaN(ny)) ? String(x).localeCompare(String(y)) : nx - ny;
      return ascending ? order : -order;
    });
    rows.forEach(function (row) { body.appendChild(row); });
    table.setAttribute('data-sort-col', String(column));
    table.setAttribute('data-sort-dir', ascending ? 'asc' : 'desc');
  }
  var table = document.getElementById('results');
  if (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, i) {
      th.addEventListener('click', function () { sortBy(table, i); });
    });
  }
  report();
})();
"""
