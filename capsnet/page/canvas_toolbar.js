// Takes streamlit-drawable-canvas's own toolbar off the drawing: the page has Undo, Redo and
// Clear buttons of its own beside the canvas (see canvas_toolbar.py for why).
//
// This depends on the canvas component's internals: it renders into an open shadow root
// (Streamlit's isolated Components v2 styles) and its toolbar is the element of class
// `dc-toolbar` there. The page's browser tests check both, so a version of the component
// that changes them fails them loudly.

const CANVAS_HOSTS = ".st-key-canvas *"; // the canvas's element and what Streamlit puts in it
const TOOLBAR = ".dc-toolbar";
const STYLE_ID = "capsnet-no-canvas-toolbar";
// !important: the component sets the toolbar's inline `display: flex` on every update
const STYLE = `${TOOLBAR} { display: none !important; }`;

/** Adds the style to each canvas shadow root that lacks it, and watches each root found,
 * since the component fills its root (the toolbar too) after the root appears. */
function hideToolbars(observer, watched) {
  for (const host of document.querySelectorAll(CANVAS_HOSTS)) {
    const root = host.shadowRoot;
    if (!root) continue;
    if (!watched.has(root)) {
      watched.add(root);
      observer.observe(root, { childList: true, subtree: true });
    }
    if (!root.getElementById(STYLE_ID)) {
      const style = document.createElement("style");
      style.id = STYLE_ID;
      style.textContent = STYLE;
      root.appendChild(style);
    }
  }
}

export default function () {
  const watched = new WeakSet();
  let scheduled = false;
  // The canvas may mount after this component, or again later: look once a frame after
  // any change to the page or inside a canvas, until this component unmounts.
  const observer = new MutationObserver(() => {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => {
      scheduled = false;
      hideToolbars(observer, watched);
    });
  });
  observer.observe(document.body, { childList: true, subtree: true });
  hideToolbars(observer, watched);
  return () => observer.disconnect();
}
