"""The fixed parts of report.html: stylesheet and the small inline script (no external resources)."""

STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1400px;color:#222;
padding:0 16px}
h1{font-size:1.5em;margin-bottom:4px}
h2{font-size:1.2em;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin-top:0} .muted{color:#999} .empty{fill:#999;font-style:italic}
.glance{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px 12px;min-width:220px}
.card b{font-size:1.1em}
svg.chart{display:block;margin:8px 0;max-width:100%;height:auto;font-size:12px}
.axis{stroke:#444} .tick{stroke:#444} .grid{stroke:#eee} .tick-label{fill:#555;font-size:11px} .axis-label{fill:#333}
.chart-title{font-weight:600;fill:#333} .point-label{fill:#333;font-size:11px}
.legend{font-size:12px} .legend-title{font-weight:600}
.front-line{fill:none;stroke:#444;stroke-dasharray:5 3;stroke-width:1.5}
.front-ring{fill:none;stroke:#000;stroke-width:1.5}
.bar-label{fill:#333} .bar-value{fill:#333} .dots circle{opacity:.25}
.box{fill:rgba(255,255,255,.6);stroke-width:1.5} .whisker{stroke:#666}
.median{stroke:#000;stroke-width:2.5} .median-ci{fill:rgba(0,0,0,.25)}

.table-wrap{overflow-x:auto} table{border-collapse:collapse;font-size:13px;width:100%}
th,td{border:1px solid #ddd;padding:3px 6px;text-align:right} td{white-space:nowrap}
th{background:#f5f5f5;cursor:pointer;position:sticky;top:0} td:nth-child(-n+4){text-align:left}
.baseline-row{background:#fffbe6}
.notes li{color:#555}
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
