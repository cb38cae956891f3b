// Front end of alwidgets.ImageAnnotator: the whole view, keys in, events out.
//
// The kernel sends one trait, `view`: the queue around its current image
// (`entries`: item, position, confirmed label, panel HTML), the counts, the status
// and message lines, and `acked`, the last key it has taken. The images come once
// each, as JPEG bytes in custom messages (asked for with {event: "need"}), and are
// decoded before they are shown, so a key swaps the picture at once:
//
// * every key is sent with the item on screen (`item`) and a sequence number; it is
//   *pending* until the kernel's view says `acked` >= its number. What is shown is
//   the kernel's view with the pending keys replayed on it, so the next image comes
//   on the key itself, and a failed write (the kernel goes back to that image and
//   says why in red) simply replaces it. A re-rank (a new queue) replaces the
//   images to come; the one on screen stays until the next key, which labels it;
// * counts, budget and labels shown are the kernel's, i.e. saved; pending decisions
//   are only marked as such.
//
// Keys are taken only while the annotator is focused AND its image is on screen, only
// the widget's own keys (from `setup`) without Ctrl/Cmd/Alt, and never after the
// kernel stopped: then the badge says so and that the labels are safe on disk.

const GONE = new Set(["dead", "autorestarting", "restarting"]);
const ACK_TIMEOUT_MS = 4000;
const MAX_URLS = 400;

const normalise = (key) => (key.length === 1 ? key.toLowerCase() : key);

function isTextInput(target) {
  if (!(target instanceof HTMLElement)) return false;
  return (
    target.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)
  );
}

function part(parent, tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  parent.appendChild(node);
  return node;
}

function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function render({ model, el }) {
  const root = part(el, "div", "alwidgets-annotator");
  root.setAttribute("tabindex", "0");
  const progress = part(root, "div", "alw-progress");
  const counts = part(progress, "b", "");
  const shareNode = part(progress, "span", "");
  const meter = part(progress, "progress", "");
  const whereNode = part(progress, "span", "");
  const savingNode = part(progress, "span", "alw-saving");
  part(progress, "br", "");
  const perClass = part(progress, "small", "");
  const status = part(root, "div", "alw-status");
  const row = part(root, "div", "alw-row");
  const frame = part(row, "div", "alw-frame");
  const photo = part(frame, "img", "alw-photo");
  photo.alt = "the image to label";
  const waitNote = part(frame, "div", "alw-wait");
  waitNote.textContent = "loading the next image…";
  const panel = part(row, "div", "alw-panel");
  const classRow = part(root, "div", "alw-buttons");
  const navRow = part(root, "div", "alw-buttons");
  const message = part(root, "div", "alw-message");
  message.setAttribute("role", "status");
  const help = part(root, "div", "alw-help");
  const badge = part(root, "div", "alw-keys");
  badge.setAttribute("role", "status");

  let seq = 0;
  let pending = []; // {seq, key, item, action}
  let shown = null; // the item on screen
  let decided = new Set(); // items with a pending label or skip
  let pendingLabels = new Map(); // item -> class index, pending
  let visible = false;
  let focused = false;
  let gone = false;
  let waiting = false;
  let focusedOnce = false;
  let lastClick = -1e9;
  let localNote = "";
  let queueSeen; // the kernel's queue number (it changes on a re-rank)
  let sticky = null; // the image kept on screen over a re-rank
  let lastEntry;
  const urls = new Map(); // item -> object URL of a decoded image
  const requested = new Set(); // asked for with {event: "need"}
  const decoding = new Set();
  const timers = new Map();
  const cleanups = [];
  let buttons = []; // [key, button]

  const setup = () => model.get("setup") || {};
  const view = () => model.get("view") || {};
  const entries = () => view().entries || [];

  const actionOf = (key) => {
    const s = setup();
    if (/^[1-9]$/.test(key) && Number(key) <= (s.classes || []).length) return "label";
    for (const [action, keys] of Object.entries(s.actions || {})) {
      if (keys.includes(key)) return action;
    }
    return key in (s.extra || {}) ? "other" : null;
  };

  // -- the queue: the kernel's view with the pending keys replayed on it

  const indexOf = (item) => entries().findIndex((e) => e.item === item);

  const nextOpen = (item) => {
    const list = entries();
    for (let j = indexOf(item) + 1; j < list.length; j++) {
      const e = list[j];
      if (e.label === null && !e.skipped && !decided.has(e.item)) return e.item;
    }
    return null; // beyond what the kernel sent: wait for it
  };

  const spent = () => {
    let n = view().labelled || 0;
    for (const [item] of pendingLabels) {
      const e = entries()[indexOf(item)];
      if (e && e.label === null) n += 1;
    }
    return n;
  };

  const move = (at, p, undo) => {
    const list = entries();
    const j = indexOf(p.item);
    const e = list[j];
    if (p.action === "label" || p.action === "skip") {
      if (!e && p.item !== at) return at;
      if (p.action === "skip" && e && e.label !== null) return move(at, { ...p, action: "next" });
      if (p.action === "label" && !e?.label && spent() >= view().budget) return at;
      decided.add(p.item);
      if (p.action === "label") pendingLabels.set(p.item, Number(p.key) - 1);
      undo.push(p.item);
      return p.item === at ? nextOpen(at) : at;
    }
    if (p.action === "back") return e && j > 0 ? list[j - 1].item : e && e.position === 0 ? e.item : null;
    if (p.action === "next") {
      if (e && j + 1 < list.length) return list[j + 1].item;
      return e && e.position === view().n - 1 ? e.item : null;
    }
    if (p.action === "undo") {
      if (undo.length) {
        const item = undo.pop();
        decided.delete(item);
        pendingLabels.delete(item);
        return item;
      }
      const item = view().undo_item;
      return item !== null && indexOf(item) >= 0 ? item : null;
    }
    return at;
  };

  const replay = () => {
    const v = view();
    pending = pending.filter((p) => p.seq > (v.acked || 0));
    for (const id of [...timers.keys()]) {
      if (id <= (v.acked || 0)) {
        clearTimeout(timers.get(id));
        timers.delete(id);
      }
    }
    if (waiting && !timers.size) waiting = false;
    decided = new Set();
    pendingLabels = new Map();
    const undo = [];
    let at = v.current ?? null;
    for (const p of pending) at = move(at, p, undo);
    // A re-rank (a new queue) replaces the images to come, not the one on screen: it
    // stays until the next key, unless the kernel moves on (an error, a running oracle).
    if (v.queue !== queueSeen && shown !== null && !decided.has(shown) && v.kind !== "error") {
      sticky = { item: shown, entry: lastEntry, current: v.current, acked: v.acked };
    }
    queueSeen = v.queue;
    if (sticky && sticky.current !== v.current && sticky.acked !== v.acked) {
      Object.assign(sticky, { current: v.current, acked: v.acked }); // our keys moved it
    }
    const moved = sticky && sticky.current !== v.current; // the kernel moved on its own
    if (moved || v.kind === "error" || decided.has(sticky?.item)) sticky = null;
    shown = sticky ? sticky.item : at;
    // The images new to the queue window come with the view (the current one too).
    for (const [item, buffer] of v.images || []) addImage(item, buffer);
    fetchImages();
    paint();
  };

  // -- images: asked for once, decoded before they are shown

  const fetchImages = () => {
    const missing = entries()
      .map((e) => e.item)
      .filter((item) => !urls.has(item) && !requested.has(item) && !decoding.has(item));
    if (!missing.length) return;
    for (const item of missing) requested.add(item);
    model.send({ event: "need", items: missing });
  };

  const addImage = (item, buffer) => {
    if (urls.has(item) || decoding.has(item)) return;
    decoding.add(item);
    const url = URL.createObjectURL(new Blob([buffer], { type: "image/jpeg" }));
    const img = new Image();
    img.src = url;
    img.decode().catch(() => {}).then(() => {
      decoding.delete(item);
      if (urls.has(item)) return URL.revokeObjectURL(url);
      urls.set(item, url);
      requested.delete(item);
      if (urls.size > MAX_URLS) {
        const keep = new Set(entries().map((e) => e.item));
        for (const [old, oldUrl] of urls) {
          if (urls.size <= MAX_URLS / 2) break;
          if (!keep.has(old)) {
            URL.revokeObjectURL(oldUrl);
            urls.delete(old);
          }
        }
      }
      if (item === shown) paint();
    });
  };

  const onMessage = (msg, buffers) => {
    if (msg && Array.isArray(msg.images)) msg.images.forEach((item, k) => addImage(item, buffers[k]));
  };

  // -- panels: one laid-out card per image of the window, only the shown one visible,
  // so a key changes what is visible, not what is laid out.

  const cards = new Map(); // item -> {html, node}
  let cardShown = null;

  const cardFor = (item, html) => {
    let card = cards.get(item);
    if (!card) {
      card = { html: null, node: part(panel, "div", "alw-card") };
      cards.set(item, card);
    }
    if (card.html !== html) {
      card.node.innerHTML = html;
      card.html = html;
    }
    return card.node;
  };

  const showCard = (entry) => {
    const keep = new Set();
    for (const e of entries()) {
      cardFor(e.item, e.panel);
      keep.add(e.item);
    }
    const node = entry ? cardFor(entry.item, entry.panel) : null;
    for (const [item, card] of cards) {
      if (!keep.has(item) && card.node !== node) {
        card.node.remove();
        cards.delete(item);
      }
    }
    if (node !== cardShown) {
      if (cardShown) cardShown.style.visibility = "hidden";
      if (node) node.style.visibility = "visible";
      cardShown = node;
    }
  };

  // -- painting

  const paint = () => {
    const v = view();
    const s = setup();
    const entry = entries()[indexOf(shown)] || (sticky && sticky.item === shown ? sticky.entry : undefined);
    lastEntry = entry;
    const saving = pending.filter((p) => p.action !== "other").length;
    const done = (v.labelled || 0) >= v.budget;
    const where = done ? "done ✔" : entry ? `image ${entry.position + 1} of ${v.n}` : "…";
    const share = Math.round((100 * (v.labelled || 0)) / (v.budget || 1));
    // Only text and values change: the elements stay (nothing to lay out again).
    setText(counts, `${v.labelled} of ${v.budget} labelled`);
    setText(shareNode, ` (${share}% of the budget) `);
    if (meter.max !== v.budget) meter.max = v.budget;
    if (meter.value !== v.labelled) meter.value = v.labelled;
    setText(whereNode, ` — ${where}`);
    setText(savingNode, saving ? ` · ${saving} saving…` : "");
    setText(perClass, v.per_class || "");
    setText(status, v.status || "");
    status.className = `alw-status ${v.busy ? "alw-busy" : ""}`;
    const url = urls.get(shown);
    if (url) {
      if (photo.getAttribute("src") !== url) photo.src = url;
      photo.style.visibility = "visible";
    } else {
      photo.style.visibility = "hidden";
    }
    waitNote.style.display = url ? "none" : "block";
    showCard(entry);
    const label = entry
      ? pendingLabels.has(entry.item)
        ? pendingLabels.get(entry.item)
        : (s.classes || []).indexOf(entry.label)
      : -1;
    const live = v.active !== false && !gone;
    for (const [key, button] of buttons) {
      const action = actionOf(key);
      const chosen = action === "label" && Number(key) - 1 === label;
      button.classList.toggle("alw-chosen", chosen);
      button.disabled =
        !live ||
        !entry ||
        (action === "label" && label < 0 && spent() >= v.budget) ||
        (action === "skip" && done);
    }
    const text = localNote || v.message || "";
    setText(message, text ? (v.kind === "error" && !localNote ? `⚠ ${text}` : text) : "");
    message.className = `alw-message alw-${localNote ? "warn" : v.kind || "info"}`;
    showBadge();
  };

  const showBadge = () => {
    let text = "⌨ keys active";
    let kind = "alw-on";
    const file = model.get("label_file");
    if (gone) {
      text =
        "⚠ The kernel has stopped: this annotator no longer takes input. " +
        `Every label counted above is safe in ${file}. ` +
        "Restart the kernel and re-run this cell to continue where you stopped.";
      kind = "alw-gone";
    } else if (view().active === false) {
      text = "⌨ keys off: a newer annotator took over this label file; use that one.";
      kind = "alw-warn";
    } else if (waiting) {
      text =
        "⌛ waiting for the kernel (busy, or stopped?): if it stopped, your " +
        `labels are safe in ${file}; restart it and re-run this cell.`;
      kind = "alw-warn";
    } else if (!visible) {
      text = "⌨ keys paused: scroll the annotator into view";
      kind = "alw-off";
    } else if (!focused) {
      text = "⌨ keys paused: click the annotator once to use them";
      kind = "alw-off";
    }
    setText(badge, text);
    badge.className = `alw-keys ${kind}`;
    root.classList.toggle("alw-focused", focused && !gone);
    root.classList.toggle("alw-gone", gone);
  };

  // -- input

  const send = (key) => {
    const action = actionOf(key);
    if (!action || gone || view().active === false) return;
    if (shown === null && action !== "undo" && action !== "other") return; // nothing on screen
    localNote = "";
    sticky = null; // the key was for the image on screen; what follows is the queue's
    seq += 1;
    const id = seq;
    pending.push({ seq: id, key, item: shown, action });
    timers.set(
      id,
      setTimeout(() => {
        waiting = true;
        showBadge();
      }, ACK_TIMEOUT_MS),
    );
    model.send({ event: "keydown", key, item: shown, seq: id });
    replay();
  };

  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.shiftKey && event.key.length > 1) return; // Shift+Enter, Shift+arrows
    const key = normalise(event.key);
    if (!actionOf(key) || isTextInput(event.target)) return;
    if (!visible || !focused) return; // not ours: the learner cannot see it
    event.preventDefault();
    event.stopPropagation();
    if (event.repeat) return;
    send(key);
  };

  const onClick = (key) => {
    const now = performance.now();
    if (now - lastClick < model.get("debounce_ms")) {
      localNote = "Ignored a double click.";
      paint();
      return;
    }
    lastClick = now;
    send(key);
  };

  const buildButtons = () => {
    const s = setup();
    const arrows = { ArrowLeft: "←", ArrowRight: "→" };
    const named = { back: "← back", skip: "skip", undo: "undo", next: "next →" };
    classRow.replaceChildren();
    navRow.replaceChildren();
    buttons = [];
    const add = (rowNode, key, text, tip) => {
      const button = part(rowNode, "button", "alw-button");
      button.type = "button";
      button.textContent = text;
      button.title = tip;
      button.addEventListener("click", () => onClick(key));
      buttons.push([key, button]);
    };
    (s.classes || []).forEach((name, k) => add(classRow, String(k + 1), `${k + 1} · ${name}`, `key ${k + 1}`));
    for (const action of ["back", "skip", "undo", "next"]) {
      const keys = (s.actions || {})[action] || [];
      add(navRow, keys[0], named[action], `key ${keys.map((k) => arrows[k] || k).join(" / ")}`);
    }
    for (const [key, name] of Object.entries(s.extra || {})) add(navRow, key, name, `key ${key}`);
    help.textContent = `Keys: ${s.help || ""}`;
    paint();
  };

  // -- focus, visibility and the kernel

  const onIn = () => {
    focused = true;
    showBadge();
  };
  const onOut = (event) => {
    if (!root.contains(event.relatedTarget)) {
      focused = false;
      showBadge();
    }
  };
  root.addEventListener("keydown", onKey);
  root.addEventListener("focusin", onIn);
  root.addEventListener("focusout", onOut);

  const observer = new IntersectionObserver(
    (list) => {
      for (const entry of list) visible = entry.intersectionRatio >= 0.5;
      if (visible && !focusedOnce && model.get("autofocus")) {
        focusedOnce = true; // take the focus once, when first seen...
        const typing =
          isTextInput(document.activeElement) ||
          document.activeElement?.closest?.(".cm-editor");
        if (!typing) root.focus({ preventScroll: true }); // ...unless one types
      }
      showBadge();
    },
    { threshold: [0, 0.25, 0.5, 0.75, 1] },
  );
  observer.observe(frame);

  const setGone = () => {
    if (gone) return;
    gone = true;
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
    paint();
  };
  const kernel = model.widget_manager?.kernel;
  if (kernel?.statusChanged) {
    const onStatus = (_, state) => {
      if (GONE.has(state)) setGone();
    };
    kernel.statusChanged.connect(onStatus);
    cleanups.push(() => kernel.statusChanged.disconnect(onStatus));
    if (GONE.has(kernel.status)) setGone();
  }
  // ipywidgets marks every view of a dead comm with this class.
  const mutations = new MutationObserver(() => {
    if (el.closest(".jupyter-widgets-disconnected")) setGone();
  });
  requestAnimationFrame(() => {
    for (let node = el; node; node = node.parentElement) {
      mutations.observe(node, { attributes: true, attributeFilter: ["class"] });
    }
  });

  model.on("msg:custom", onMessage);
  model.on("change:view", replay);
  model.on("change:setup", buildButtons);
  model.on("change:label_file", showBadge);
  cleanups.push(() => {
    model.off("msg:custom", onMessage);
    model.off("change:view", replay);
    model.off("change:setup", buildButtons);
    model.off("change:label_file", showBadge);
    observer.disconnect();
    mutations.disconnect();
    root.removeEventListener("keydown", onKey);
    root.removeEventListener("focusin", onIn);
    root.removeEventListener("focusout", onOut);
  });
  focused = root.contains(document.activeElement);
  buildButtons();
  replay();
  return () => {
    for (const timer of timers.values()) clearTimeout(timer);
    for (const cleanup of cleanups) cleanup();
    for (const url of urls.values()) URL.revokeObjectURL(url);
  };
}

export default { render };
