// A shop on the server's origin for the popup browser tests: its pages and pictures are served
// by the browser itself (request routing), each with the widget's one script tag.
import { strict as assert } from "node:assert";

const SHOP_PAGE = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop</title>
<link rel="icon" href="data:,"></head>
<body style="margin:0;font-family:sans-serif;background:#f4f1ea"><h1 style="padding:20px">Acme shop</h1>
<p style="padding:0 20px">A product page.</p>
<script src="/widget.js" data-project="demo" async></script></body></html>`;
const JACKET_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="88" height="88" viewBox="0 0 88 88">
<rect width="88" height="88" fill="#2f6f4f"/><path d="M30 20h28l10 16-8 4v30H28V40l-8-4z" fill="#f2c14e"/></svg>`;

/** Helpers bound to one browser, server and push secret. */
export function shopHelpers(browser, baseUrl, pushSecret, screenshots) {
  async function push(event) {
    const response = await fetch(`${baseUrl}/api/widget/salespop-push`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Authorization: `Bearer ${pushSecret}` },
      body: JSON.stringify({ project: "demo", ...event }),
    });
    assert.equal(response.status, 201, `push refused: ${await response.text()}`);
  }

  async function shot(page, name) {
    if (screenshots) await page.screenshot({ path: `${screenshots}/${name}.png` });
  }

  /** A browser context whose /shop/ pages and pictures are served by the browser; records the
   *  popup texts its pages ever showed (`window.__popupTexts`). */
  async function shop(options = {}) {
    const context = await browser.newContext(options);
    await context.route(`${baseUrl}/shop/**`, (route) => {
      const path = new URL(route.request().url()).pathname;
      if (path.endsWith(".svg")) return route.fulfill({ contentType: "image/svg+xml", body: JACKET_SVG });
      return route.fulfill({ contentType: "text/html", body: SHOP_PAGE });
    });
    await context.addInitScript(() => {
      window.__popupTexts = [];
      new MutationObserver(() => {
        const root = document.querySelector("#helpyap-widget")?.shadowRoot;
        if (!root || root.__watched) return;
        root.__watched = true;
        new MutationObserver(() => {
          for (const popup of root.querySelectorAll(".popup .text")) {
            if (!window.__popupTexts.includes(popup.textContent)) window.__popupTexts.push(popup.textContent);
          }
        }).observe(root, { childList: true, subtree: true });
      }).observe(document, { childList: true, subtree: true });
    });
    return context;
  }

  /** Opens `path` in `context` as a visitor who has seen every event pushed so far, so only
   *  new ones show (a first visit would replay the recent ones); records the page's popup
   *  WebSockets (`page.sockets`) and errors (`page.errors`). */
  async function open(context, path) {
    const { lastId } = await (await fetch(`${baseUrl}/api/widget/salespop?project=demo`)).json();
    await context.addInitScript((since) => localStorage.setItem("helpyap:demo:since", since), lastId);
    const page = await context.newPage();
    page.errors = [];
    page.on("pageerror", (error) => page.errors.push(error.message));
    page.sockets = [];
    page.on("websocket", (socket) => {
      if (socket.url().includes("/salespop/ws")) page.sockets.push(socket);
    });
    await page.goto(`${baseUrl}${path}`);
    await page.locator("#helpyap-widget .launcher").waitFor();
    return page;
  }

  const popup = (page, text) => page.locator("#helpyap-widget .popup", { hasText: text });

  return { push, shot, shop, open, popup };
}
