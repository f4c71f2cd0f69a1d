/* spyproof report: filter and collapse for long reports. Without this script every
   section and card is open and visible; it only adds controls. */
(function () {
  "use strict";
  var doc = document;
  var each = function (list, fn) { Array.prototype.forEach.call(list, fn); };

  each(doc.querySelectorAll(".js-only"), function (el) { el.hidden = false; });

  // Long lists start collapsed to one summary line per card.
  each(doc.querySelectorAll("[data-collapse-over]"), function (list) {
    var cards = list.querySelectorAll(":scope > details.card");
    if (cards.length > Number(list.getAttribute("data-collapse-over"))) {
      each(cards, function (c) { c.open = false; });
    }
  });

  function setOpen(id, open) {
    var list = doc.getElementById(id);
    if (!list) { return; }
    each(list.querySelectorAll(":scope > details.card"), function (c) {
      if (!c.hidden) { c.open = open; }
    });
  }
  each(doc.querySelectorAll("button[data-expand]"), function (b) {
    b.addEventListener("click", function () { setOpen(b.getAttribute("data-expand"), true); });
  });
  each(doc.querySelectorAll("button[data-collapse]"), function (b) {
    b.addEventListener("click", function () { setOpen(b.getAttribute("data-collapse"), false); });
  });

  // Findings: text, severity, check, clause and status filters.
  var list = doc.getElementById("findings-list");
  if (list) {
    var cards = Array.prototype.slice.call(list.querySelectorAll(":scope > details.finding"));
    var texts = null;  // read on first use: the page shows before the text is indexed
    var field = function (id) { return doc.getElementById(id); };
    var shown = field("f-shown");
    var keys = [["f-sev", "data-sev"], ["f-check", "data-check"],
                ["f-clause", "data-clause"], ["f-status", "data-status"]];
    var apply = function () {
      var words = field("f-text").value.toLowerCase().split(/\s+/).filter(Boolean);
      if (words.length && !texts) {
        texts = cards.map(function (c) { return c.textContent.toLowerCase(); });
      }
      var wanted = keys.map(function (k) { return [k[1], field(k[0]).value]; });
      var n = 0;
      cards.forEach(function (c, i) {
        var ok = wanted.every(function (w) { return !w[1] || c.getAttribute(w[0]) === w[1]; }) &&
          words.every(function (w) { return texts[i].indexOf(w) !== -1; });
        c.hidden = !ok;
        if (ok) { n += 1; }
      });
      shown.textContent = "showing " + n + " of " + cards.length;
    };
    field("f-text").addEventListener("input", apply);
    keys.forEach(function (k) { field(k[0]).addEventListener("change", apply); });
    apply();
  }

  // Tables: one text filter each.
  each(doc.querySelectorAll("input.table-filter"), function (input) {
    var id = input.getAttribute("data-target");
    var table = doc.getElementById(id);
    if (!table) { return; }
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var texts = rows.map(function (r) { return r.textContent.toLowerCase(); });
    var shown = doc.querySelector('.shown[data-for="' + id + '"]');
    var apply = function () {
      var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      var n = 0;
      rows.forEach(function (r, i) {
        var ok = words.every(function (w) { return texts[i].indexOf(w) !== -1; });
        r.hidden = !ok;
        if (ok) { n += 1; }
      });
      if (shown) { shown.textContent = "showing " + n + " of " + rows.length; }
    };
    input.addEventListener("input", apply);
    apply();
  });

  // A link to a card opens it (and every details around it), even if a filter hid it.
  function reveal() {
    var id = location.hash.slice(1);
    try { id = decodeURIComponent(id); } catch (e) { return; }
    var el = id && doc.getElementById(id);
    for (var e = el; e; e = e.parentElement) {
      if (e.tagName === "DETAILS") { e.open = true; e.hidden = false; }
    }
    if (el) { el.scrollIntoView(); }
  }
  window.addEventListener("hashchange", reveal);
  if (location.hash) { reveal(); }

  // Printing shows everything.
  window.addEventListener("beforeprint", function () {
    each(doc.querySelectorAll("details"), function (d) { d.open = true; });
  });

  doc.documentElement.setAttribute("data-report-ready", "1");
}());
