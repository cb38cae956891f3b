// Front end of alwidgets.ActiveLearningSession: the model's status, and a guard on keys.
//
// The keys themselves are annotator.js's (the session is an ImageAnnotator). This
// module only adds what the loop needs:
//
// * a status line that says when the model is updating;
// * a guard: from the key that completes a batch (`armed`) until the kernel has
//   retrained, re-ranked and shown the next image (`settled` changes), further keys
//   are held back, not sent: they were pressed for an image that is no longer next.
//   The line says how many were not used. Nothing freezes: keys are answered at once.
//
// It listens in the capture phase on the session's box, so it sees each key before
// annotator.js does and can stop it. It holds only after a key annotator.js sends
// (its badge says "keys active"), and never longer than MAX_HOLD_MS.

const MAX_HOLD_MS = 15000;

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
  const line = document.createElement("div");
  line.className = "alw-guard";
  line.setAttribute("role", "status");
  el.appendChild(line);

  let box = null;
  let holding = false;
  let held = 0;
  let safety = null;
  const cleanups = [];

  const show = () => {
    const busy = model.get("busy") || holding;
    let text = "";
    if (busy) {
      text = "⟳ the model is updating: keys wait until the next image is shown";
      if (held) text += ` (${held} key${held > 1 ? "s" : ""} not used)`;
    } else if (held) {
      text =
        `${held} key${held > 1 ? "s" : ""} pressed while the model updated ` +
        "were not used: they were meant for an image that is no longer next.";
    }
    line.textContent = text;
    line.className = `alw-guard ${busy ? "alw-busy" : ""}`;
    if (box) box.classList.toggle("alw-updating", busy);
  };

  const onKey = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.shiftKey && event.key.length > 1) return;
    const key = normalise(event.key);
    if (!model.get("handled_keys").includes(key) || isTextInput(event.target)) return;
    if (holding || model.get("busy")) {
      event.preventDefault();
      event.stopImmediatePropagation();
      held += 1;
      show();
      return;
    }
    const label = /^[1-9]$/.test(key);
    // annotator.js sends the key only while its badge says "keys active".
    const sent = box.querySelector(".alw-keys")?.classList.contains("alw-on");
    if (sent && ((label && model.get("armed")) || key === "r")) {
      holding = true; // this key retrains: hold the next ones until it is done
      held = 0;
      clearTimeout(safety); // never hold for ever, whatever happens to the kernel
      safety = setTimeout(onSettled, MAX_HOLD_MS);
      show();
    } else if (held) {
      held = 0;
      show();
    }
  };

  const onSettled = () => {
    clearTimeout(safety);
    holding = false;
    show();
  };

  const attach = (tries) => {
    box = el.closest(".alwidgets-session");
    if (!box && tries > 0) {
      requestAnimationFrame(() => attach(tries - 1));
      return;
    }
    box = box || el;
    box.addEventListener("keydown", onKey, true);
    cleanups.push(() => box.removeEventListener("keydown", onKey, true));
    show();
  };

  model.on("change:busy", show);
  model.on("change:settled", onSettled);
  cleanups.push(() => {
    model.off("change:busy", show);
    model.off("change:settled", onSettled);
  });
  attach(120);
  return () => {
    clearTimeout(safety);
    for (const cleanup of cleanups) cleanup();
  };
}

export default { render };
