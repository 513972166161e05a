// An item's page while its status is not final: every few seconds, ask the webapp whether
// anything the page shows changed (If-None-Match with the tag of what it shows; 304 means
// nothing did), and reload the page only when something did. A timed reload would start
// the page over under a screen reader, a reader and a pointer every few seconds
// (WCAG 2.2.1); this one happens when there is something new to read.
(function () {
  "use strict";
  const script = document.currentScript;
  const seconds = Number(script.dataset.seconds);
  const shown = 'W/"' + script.dataset.shown + '"';

  async function askWhetherChanged() {
    try {
      const answer = await fetch(window.location.href, {
        headers: { "If-None-Match": shown },
        cache: "no-store",
        credentials: "same-origin",
      });
      if (answer.status === 200) {
        window.location.reload();
        return;
      }
    } catch (unreachable) {
      // The webapp did not answer this time: ask again at the next turn.
    }
    window.setTimeout(askWhetherChanged, seconds * 1000);
  }

  window.setTimeout(askWhetherChanged, seconds * 1000);
})();
