import { type RefObject, useEffect } from 'react';

/** Recharts 3 renders each z-index layer as a `<g>` that React portals into. */
const LAYER_SELECTOR = 'g[class*="recharts-zIndex-layer_"]:not([tabindex])';

/**
 * Keeps a chart to one tab stop: its surface, where the arrow keys move the
 * tooltip (Recharts' accessibility layer).
 *
 * React listens for focus and key events on every portal container, and
 * Chromium makes an SVG element with such listeners focusable, so each of
 * Recharts' z-index layer groups became an invisible tab stop (five per
 * chart). `tabindex="-1"` takes them out of the tab order; the layers are
 * added as the chart renders, hence the observer.
 */
export function useSingleTabStop(container: RefObject<HTMLElement | null>) {
  useEffect(() => {
    const root = container.current;
    if (!root) return;
    const untab = () => {
      for (const layer of root.querySelectorAll(LAYER_SELECTOR))
        layer.setAttribute('tabindex', '-1');
    };
    untab();
    const observer = new MutationObserver(untab);
    observer.observe(root, { childList: true, subtree: true });
    return () => observer.disconnect();
  }, [container]);
}
