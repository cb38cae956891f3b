// Front end of alwidgets.ImageAnnotator: keys in, status out.
//
// The Python side owns the key map (ImageAnnotator.KEYMAP) and sends the keys it
// handles as the `handled_keys` trait; the help line and the buttons' tooltips come from
// the same table. Here we only decide whether a key press is ours to take:
//
// * only while the annotator is focused AND its image is on screen (at least half
//   of it), so a key pressed while the widget has scrolled away is not a label;
// * only the widget's own keys, without Ctrl/Cmd/Alt (Shift only for letters),
//   so JupyterLab's shortcuts (Ctrl+S, Shift+Enter, Shift+arrows...) keep working;
// * never after the kernel stopped: then the badge says so and that the labels
//   are safe on disk.

const GONE = new Set(["dead", "autorestarting", "restarting"]);
const ACK_TIMEOUT_MS = 4000;

function normalise(key) {
  return key.length === 1 ? key.toLowerCase() : key;
}

function isTextInput(target) {
  if (!(target instanceof HTMLElement)) return false;
  return (
    target.isContentEditable ||
    ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)
  );
}

function render({ model, el }) {
  const badge = document.createElement("div");
  badge.className = "alw-keys";
  badge.setAttribute("role", "status");
  el.appendChild(badge);

  let box = null;
  let visible = false;
  let focused = false;
  let gone = false;
  let waiting = false;
  let focusedOnce = false;
  let seq = 0;
  const timers = new Map();
  const cleanups = [];

  const show = () => {
    let text = "⌨ keys active";
    let kind = "alw-on";
    const file = model.get("label_file");
    if (gone) {
      text =
        "⚠ The kernel has stopped: this annotator no longer takes input. " +
        `Every label counted above is safe in ${file}. ` +
        "Restart the kernel and re-run this cell to continue where you stopped.";
      kind = "alw-gone";
    } else if (!model.get("active")) {
      text =
        "⌨ keys off: a newer annotator took over this label file; use that one.";
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
    badge.textContent = text;
    badge.className = `alw-keys ${kind}`;
    if (box) {
      box.classList.toggle("alw-focused", focused && !gone);
      box.classList.toggle("alw-gone", gone);
    }
  };

  const setGone = () => {
    if (gone) return;
    gone = true;
    for (const timer of timers.values()) clearTimeout(timer);
    timers.clear();
    show();
  };

  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.shiftKey && event.key.length > 1) return; // Shift+Enter, Shift+arrows
    const key = normalise(event.key);
    if (!model.get("handled_keys").includes(key) || isTextInput(event.target)) return;
    if (!visible || !focused) return; // not ours: the learner cannot see it
    event.preventDefault();
    event.stopPropagation();
    if (gone || !model.get("active") || event.repeat) {
      show();
      return;
    }
    seq += 1;
    const id = seq;
    timers.set(
      id,
      setTimeout(() => {
        timers.delete(id);
        waiting = true;
        show();
      }, ACK_TIMEOUT_MS),
    );
    model.send({ event: "keydown", key, seq: id });
  };

  const onMessage = (msg) => {
    if (!msg || msg.ack === undefined) return;
    clearTimeout(timers.get(msg.ack));
    timers.delete(msg.ack);
    if (waiting) {
      waiting = false;
      show();
    }
  };

  const onIn = () => {
    focused = true;
    show();
  };
  const onOut = (event) => {
    if (!box.contains(event.relatedTarget)) {
      focused = false;
      show();
    }
  };

  const watchVisibility = () => {
    const target = box.querySelector("img") || box;
    const observer = new IntersectionObserver(
      (entries) => {
        for (const entry of entries) visible = entry.intersectionRatio >= 0.5;
        if (visible && !focusedOnce && model.get("autofocus")) {
          focusedOnce = true; // take the focus once, when first seen...
          const typing =
            isTextInput(document.activeElement) ||
            document.activeElement?.closest?.(".cm-editor");
          if (!typing) box.focus({ preventScroll: true }); // ...unless one types
        }
        show();
      },
      { threshold: [0, 0.25, 0.5, 0.75, 1] },
    );
    observer.observe(target);
    cleanups.push(() => observer.disconnect());
  };

  const watchKernel = () => {
    const kernel = model.widget_manager?.kernel;
    if (kernel?.statusChanged) {
      const onStatus = (_, status) => {
        if (GONE.has(status)) setGone();
      };
      kernel.statusChanged.connect(onStatus);
      cleanups.push(() => kernel.statusChanged.disconnect(onStatus));
      if (GONE.has(kernel.status)) setGone();
    }
    // ipywidgets marks every view of a dead comm with this class.
    const check = () => {
      if (el.closest(".jupyter-widgets-disconnected")) setGone();
    };
    const mutations = new MutationObserver(check);
    for (let node = el; node && node !== box?.parentElement; node = node.parentElement) {
      mutations.observe(node, { attributes: true, attributeFilter: ["class"] });
    }
    cleanups.push(() => mutations.disconnect());
    check();
  };

  const attach = (tries) => {
    box = el.closest(".alwidgets-annotator");
    if (!box && tries > 0) {
      requestAnimationFrame(() => attach(tries - 1));
      return;
    }
    box = box || el;
    box.setAttribute("tabindex", "0");
    box.addEventListener("keydown", onKey);
    box.addEventListener("focusin", onIn);
    box.addEventListener("focusout", onOut);
    cleanups.push(() => {
      box.removeEventListener("keydown", onKey);
      box.removeEventListener("focusin", onIn);
      box.removeEventListener("focusout", onOut);
    });
    focused = box.contains(document.activeElement);
    watchVisibility();
    watchKernel();
    show();
  };

  model.on("msg:custom", onMessage);
  model.on("change:active", show);
  model.on("change:label_file", show);
  cleanups.push(() => {
    model.off("msg:custom", onMessage);
    model.off("change:active", show);
    model.off("change:label_file", show);
  });
  show();
  attach(120);
  return () => {
    for (const timer of timers.values()) clearTimeout(timer);
    for (const cleanup of cleanups) cleanup();
  };
}

export default { render };
