// Front end of alwidgets.setup_check.widget_check: a button whose click goes to Python.
function render({ model, el }) {
  const button = document.createElement("button");
  button.textContent = "Click me";
  button.style.cssText = "font-size:1.1em;padding:4px 14px;cursor:pointer";
  const line = document.createElement("span");
  line.style.marginLeft = "12px";
  const show = () => {
    const clicks = model.get("clicks");
    const answer = model.get("answer");
    line.textContent = answer || "The widget renders: now click the button.";
    line.style.color = answer ? "#1a7f37" : "inherit";
    line.style.fontWeight = answer ? "bold" : "normal";
    button.textContent = clicks ? "Click again" : "Click me";
  };
  button.addEventListener("click", () => {
    model.set("clicks", model.get("clicks") + 1);
    model.save_changes();
  });
  model.on("change:answer", show);
  model.on("change:clicks", show);
  show();
  el.classList.add("alwidgets-setup-check");
  el.append(button, line);
}
export default { render };
