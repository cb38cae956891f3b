// Front end of alwidgets.ActiveLearningSession's plot: accuracy against labels spent
// (the session's retrains, the random reference) and the share of labels per class,
// drawn as SVG from the few numbers in `data`. The keys are annotator.js's.

const W = 400;
const H = 300;
const NS = "http://www.w3.org/2000/svg";

function add(parent, tag, attrs, text) {
  const node = document.createElementNS(NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

function draw(svg, d) {
  svg.replaceChildren();
  if (!d || !d.classes) return;
  const box = { left: 40, right: 250, top: 22, bottom: 250 };
  const ref = d.reference;
  const values = [
    ...d.rows.flatMap((r) => [r.validation_accuracy, r.test_accuracy]),
    ...(ref ? [...ref.low, ...ref.high, ...(ref.test || [])] : []),
  ].filter((v) => v !== null && v !== undefined);
  const lo = values.length ? Math.max(0, Math.floor(Math.min(...values) * 10) / 10) : 0;
  const hi = values.length ? Math.min(1, Math.ceil(Math.max(...values) * 10) / 10) : 1;
  const x = (n) => box.left + ((box.right - box.left) * n) / Math.max(d.budget, 1);
  const y = (a) => box.bottom - ((box.bottom - box.top) * (a - lo)) / Math.max(hi - lo, 0.05);
  const line = (xs, ys, attrs) => {
    const points = xs.map((n, k) => `${x(n).toFixed(1)},${y(ys[k]).toFixed(1)}`);
    if (points.length) add(svg, "polyline", { points: points.join(" "), fill: "none", ...attrs });
  };
  add(svg, "text", { x: 6, y: 14, class: "alw-plot-title" }, d.title);
  add(svg, "rect", {
    x: box.left, y: box.top, width: box.right - box.left, height: box.bottom - box.top,
    fill: "none", stroke: "#999",
  });
  for (let k = 0; k <= 4; k++) {
    const a = lo + ((hi - lo) * k) / 4;
    add(svg, "text", { x: box.left - 4, y: y(a) + 4, class: "alw-tick", "text-anchor": "end" }, a.toFixed(2));
    const n = Math.round((d.budget * k) / 4);
    add(svg, "text", { x: x(n), y: box.bottom + 14, class: "alw-tick", "text-anchor": "middle" }, n);
  }
  add(svg, "text", { x: (box.left + box.right) / 2, y: box.bottom + 30, class: "alw-tick", "text-anchor": "middle" }, "labels spent");
  const legend = [];
  if (ref) {
    const band = [
      ...ref.steps.map((n, k) => `${x(n)},${y(ref.high[k])}`),
      ...ref.steps.map((n, k) => `${x(n)},${y(ref.low[k])}`).reverse(),
    ];
    add(svg, "polygon", { points: band.join(" "), fill: "#999", opacity: 0.2 });
    line(ref.steps, ref.mean, { stroke: "grey" });
    legend.push(["grey", "", "random (val.)"]);
    if (ref.test) {
      line(ref.steps, ref.test, { stroke: "grey", "stroke-dasharray": "4 3" });
      legend.push(["grey", "4 3", "random (test)"]);
    }
  }
  const used = d.rows.map((r) => r.labels_used);
  line(used, d.rows.map((r) => r.validation_accuracy), { stroke: "black" });
  if (d.rows.length && d.rows[0].test_accuracy !== null) {
    line(used, d.rows.map((r) => r.test_accuracy), { stroke: "black", "stroke-dasharray": "4 3" });
    legend.push(["black", "4 3", "test (oracle)"]);
  }
  for (const r of d.rows) {
    if (r.reason === "criterion") {
      add(svg, "line", { x1: x(r.labels_used), x2: x(r.labels_used), y1: box.top, y2: box.bottom, stroke: "#999", "stroke-dasharray": "2 2" });
    }
    add(svg, "circle", { cx: x(r.labels_used), cy: y(r.validation_accuracy), r: 3, fill: d.colours[r.criterion] || "black" });
  }
  for (const name of new Set(d.rows.map((r) => r.criterion))) {
    legend.push([d.colours[name] || "black", "dot", `${name.replaceAll("_", " ")} (val.)`]);
  }
  legend.forEach(([colour, dash, text], k) => {
    const top = box.bottom - 12 - 12 * (legend.length - 1 - k);
    if (dash === "dot") add(svg, "circle", { cx: box.right - 110, cy: top - 3, r: 3, fill: colour });
    else add(svg, "line", { x1: box.right - 118, x2: box.right - 102, y1: top - 3, y2: top - 3, stroke: colour, "stroke-dasharray": dash });
    add(svg, "text", { x: box.right - 96, y: top, class: "alw-tick" }, text);
  });
  // the share of labels per class
  const left = 322;
  add(svg, "text", { x: left, y: box.top - 6, class: "alw-tick" }, "share of labels");
  d.classes.forEach((name, k) => {
    const top = box.top + 8 + k * 22;
    add(svg, "text", { x: left - 4, y: top + 10, class: "alw-tick", "text-anchor": "end" }, name);
    add(svg, "rect", { x: left, y: top, width: 70, height: 12, fill: "#eee" });
    add(svg, "rect", { x: left, y: top, width: (70 * d.shares[k]).toFixed(1), height: 12, fill: "#1b9e77" });
  });
}

function render({ model, el }) {
  const svg = document.createElementNS(NS, "svg");
  svg.setAttribute("class", "alw-plot");
  svg.setAttribute("width", W);
  svg.setAttribute("height", H);
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  el.appendChild(svg);
  const redraw = () => draw(svg, model.get("data"));
  model.on("change:data", redraw);
  redraw();
  return () => model.off("change:data", redraw);
}

export default { render };
