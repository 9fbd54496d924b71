// seglab's HTML report: switches views and opens a matrix cell's ports.
// The data is the JSON in #seglab-data; every text is set with textContent,
// never parsed as HTML.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("seglab-data").textContent);
  var SYMBOL = {
    "pass": "\u2713", "leak": "\u2717", "missing": "\u25CB", "misrouted": "\u21C4",
    "wrong-block": "\u2260", "host-down": "\u2193", "path-down": "\u2193", "error": "!",
    "open": "\u25CF", "closed": "\u2013"
  };

  function show(n) {
    document.querySelectorAll("section.view").forEach(function (s) {
      s.hidden = s.dataset.view !== String(n);
    });
    document.querySelectorAll("nav#views .tab").forEach(function (b) {
      b.setAttribute("aria-selected", b.dataset.view === String(n) ? "true" : "false");
    });
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text !== undefined && text !== null) { e.textContent = text; }
    if (cls) { e.className = cls; }
    return e;
  }

  // "tcp/22", "tcp/25", "tcp/26", "udp/53" -> "tcp 22,25-26; udp 53", as the
  // terminal report says ports. A scan's rows ("tcp 1-21") stay as written.
  function portsWords(ports) {
    var by = {}, order = [], rest = [];
    ports.forEach(function (p) {
      var m = /^([a-z]+)\/(\d+)$/.exec(p);
      if (!m) { rest.push(p); return; }
      if (!by[m[1]]) { by[m[1]] = []; order.push(m[1]); }
      by[m[1]].push(Number(m[2]));
    });
    var out = order.map(function (proto) {
      var ns = by[proto].sort(function (a, b) { return a - b; }), runs = [], i = 0;
      while (i < ns.length) {
        var j = i;
        while (j + 1 < ns.length && ns[j + 1] === ns[j] + 1) { j++; }
        runs.push(i === j ? String(ns[i]) : ns[i] + "-" + ns[j]);
        i = j + 1;
      }
      return proto + " " + runs.join(",");
    });
    return out.concat(rest).join("; ");
  }

  function open(td) {
    var section = td.closest("section.view");
    var view = data.views[Number(section.dataset.view)];
    var cell = view.cells[Number(td.dataset.k)];
    var detail = section.querySelector(".detail");
    section.querySelectorAll("td.cell.selected").forEach(function (c) { c.classList.remove("selected"); });
    td.classList.add("selected");
    detail.replaceChildren();
    detail.appendChild(el("h3", td.dataset.src + " \u2192 " + td.dataset.dst));
    detail.appendChild(el("p", td.title));
    if (!cell || cell.length === 0) {
      detail.appendChild(el("p", "No probe between these hosts."));
    } else {
      var table = el("table", null, "ports");
      // An observation judges nothing: its rows say only what was seen.
      var observed = view.kind === "observe";
      var head = el("tr");
      (observed ? ["port", "observed", ""] : ["port", "verdict", "expected", "observed", "flow", ""])
        .forEach(function (h) { head.appendChild(el("th", h)); });
      table.appendChild(head);
      var whys = [];
      cell.forEach(function (r) {
        // [port, verdict, expected, observed, flow, note, why]: see PortRow.
        var row = { port: r[0], verdict: r[1], expected: r[2], observed: r[3], flow: r[4], note: r[5], why: r[6] };
        var tr = el("tr");
        tr.dataset.verdict = row.verdict;
        tr.appendChild(el("td", row.port, "mono"));
        var v = el("td");
        v.appendChild(el("span", SYMBOL[row.verdict] || "?", "swatch v-" + row.verdict));
        v.appendChild(document.createTextNode(observed ? row.observed : row.verdict));
        tr.appendChild(v);
        if (!observed) {
          tr.appendChild(el("td", row.expected));
          tr.appendChild(el("td", row.observed));
          tr.appendChild(el("td", row.flow));
        }
        tr.appendChild(el("td", row.note || ""));
        table.appendChild(tr);
        if (row.why !== null && whys.indexOf(row.why) < 0) { whys.push(row.why); }
      });
      detail.appendChild(table);
      whys.forEach(function (w) {
        var ports = cell.filter(function (r) { return r[6] === w; }).map(function (r) { return r[0]; });
        detail.appendChild(el("h3", "Why " + portsWords(ports)));
        detail.appendChild(el("pre", view.whys[w]));
      });
    }
    detail.hidden = false;
  }

  document.querySelectorAll("nav#views .tab, .runs button").forEach(function (b) {
    b.addEventListener("click", function () { show(b.dataset.view); });
  });
  document.querySelectorAll("table.matrix").forEach(function (t) {
    t.addEventListener("click", function (e) {
      var td = e.target.closest("td.cell");
      if (td) { open(td); }
    });
    t.addEventListener("keydown", function (e) {
      var td = e.target.closest("td.cell");
      if (td && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); open(td); }
    });
  });
})();
