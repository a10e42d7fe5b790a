// The web page's behaviour: upload, list and delete documents; ask with streaming; show checked citations.
// Plain browser JavaScript, no build step, no third-party code. Talks only to its own origin.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const KEY_STORAGE = "rag.apiKey";
  const PAGE_SIZE = 50;

  // Read by the browser test: performance.now() stamps of the latest question.
  window.__ragTimings = null;

  const state = {
    docs: { offset: 0, total: 0, collection: "" },
    ask: null, // {controller} of the answer being written
    activeCite: null,
    sourceToken: null, // the latest citation click, so a slow fetch cannot overwrite a newer one
  };

  // ---------------------------------------------------------------- helpers

  function apiKey() {
    return $("api-key").value.trim();
  }

  function authHeaders(extra) {
    const headers = Object.assign({}, extra || {});
    const key = apiKey();
    if (key) headers.Authorization = "Bearer " + key;
    return headers;
  }

  // Every error body is {"error": {"code", "message", "request_id"}}; show its message.
  function messageOf(body, status) {
    if (body && body.error && body.error.message) {
      return status === 401 ? body.error.message + " Enter your API key at the top of the page." : body.error.message;
    }
    return status ? "The server answered " + status + "." : "The server could not be reached.";
  }

  async function responseError(resp) {
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      /* not JSON */
    }
    return new Error(messageOf(body, resp.status));
  }

  async function api(path, options) {
    const opts = Object.assign({}, options || {});
    opts.headers = authHeaders(opts.headers);
    let resp;
    try {
      resp = await fetch(path, opts);
    } catch (_) {
      throw new Error("The server could not be reached.");
    }
    if (!resp.ok) throw await responseError(resp);
    return resp.json();
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name === "text") node.textContent = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children) {
      if (child !== null && child !== undefined) node.append(child);
    }
    return node;
  }

  function setMessage(node, text, kind) {
    node.textContent = text || "";
    node.dataset.kind = kind || "";
  }

  function formatDate(seconds) {
    if (!seconds) return "";
    return new Date(seconds * 1000).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function ms(value) {
    return Math.round(value) + " ms";
  }

  // ---------------------------------------------------------------- API key and readiness

  function initKey() {
    const input = $("api-key");
    try {
      input.value = localStorage.getItem(KEY_STORAGE) || "";
    } catch (_) {
      /* storage blocked */
    }
    input.addEventListener("change", () => {
      try {
        if (input.value.trim()) localStorage.setItem(KEY_STORAGE, input.value.trim());
        else localStorage.removeItem(KEY_STORAGE);
      } catch (_) {
        /* storage blocked */
      }
      loadDocuments();
    });
    $("key-form").addEventListener("submit", (e) => e.preventDefault());
  }

  async function pollReady() {
    const dot = $("ready-dot");
    let ready = false;
    try {
      const resp = await fetch("/readyz", { cache: "no-store" });
      ready = resp.ok;
    } catch (_) {
      ready = false;
    }
    dot.textContent = ready ? "ready" : "loading models…";
    dot.dataset.state = ready ? "ready" : "loading";
    if (!ready) {
      setTimeout(pollReady, 2000);
    } else if (dot.dataset.wasLoading === "1") {
      loadDocuments();
    }
    if (!ready) dot.dataset.wasLoading = "1";
  }

  // ---------------------------------------------------------------- upload

  function setProgress(fraction) {
    const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    $("upload-progress").value = pct;
    $("upload-progress-text").textContent = pct + "%";
  }

  // XMLHttpRequest rather than fetch: only it reports upload progress.
  function sendUpload(form) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/ingest");
      const key = apiKey();
      if (key) xhr.setRequestHeader("Authorization", "Bearer " + key);
      xhr.responseType = "json";
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) setProgress(e.loaded / e.total);
      };
      xhr.upload.onload = () => {
        setProgress(1);
        setMessage($("upload-message"), "Uploaded; indexing…", "info");
      };
      xhr.onload = () => {
        if (xhr.status >= 200 && xhr.status < 300) resolve(xhr.response);
        else reject(new Error(messageOf(xhr.response, xhr.status)));
      };
      xhr.onerror = () => reject(new Error("The upload failed: the server could not be reached."));
      xhr.onabort = () => reject(new Error("The upload was cancelled."));
      xhr.send(form);
    });
  }

  async function onUpload(event) {
    event.preventDefault();
    const input = $("upload-files");
    const files = Array.from(input.files || []);
    const message = $("upload-message");
    const results = $("upload-results");
    if (!files.length) {
      setMessage(message, "Choose one or more files first.", "error");
      return;
    }
    const form = new FormData();
    for (const file of files) form.append("files", file, file.name);
    const collection = $("upload-collection").value.trim();
    if (collection) form.append("collection", collection);

    const button = $("upload-button");
    button.disabled = true;
    results.replaceChildren();
    $("upload-progress-wrap").hidden = false;
    setProgress(0);
    setMessage(message, "Uploading " + files.length + (files.length === 1 ? " file…" : " files…"), "info");
    try {
      const body = await sendUpload(form);
      const docs = (body && body.documents) || [];
      for (const doc of docs) {
        const note = doc.deduplicated ? "already stored" : doc.chunks + (doc.chunks === 1 ? " chunk" : " chunks");
        results.append(
          el(
            "li",
            { "data-testid": "upload-result" },
            el("span", { class: "file", text: doc.source }),
            el("span", { class: "muted", text: " · " + doc.collection + " · " + note }),
          ),
        );
      }
      setMessage(message, "Indexed " + docs.length + (docs.length === 1 ? " document." : " documents."), "ok");
      input.value = "";
      state.docs.offset = 0;
      await loadDocuments();
    } catch (err) {
      setMessage(message, err.message, "error");
    } finally {
      button.disabled = false;
      setTimeout(() => {
        $("upload-progress-wrap").hidden = true;
      }, 800);
    }
  }

  // ---------------------------------------------------------------- documents

  async function loadDocuments() {
    const message = $("docs-message");
    const params = new URLSearchParams({ limit: String(PAGE_SIZE), offset: String(state.docs.offset) });
    if (state.docs.collection) params.set("collection", state.docs.collection);
    let body;
    try {
      body = await api("/documents?" + params.toString());
    } catch (err) {
      setMessage(message, err.message, "error");
      return;
    }
    if (message.dataset.kind === "error") setMessage(message, "", "");
    state.docs.total = body.total;
    if (state.docs.offset > 0 && state.docs.offset >= body.total) {
      // The last page emptied (after a delete): step back one page.
      state.docs.offset = Math.max(0, state.docs.offset - PAGE_SIZE);
      return loadDocuments();
    }
    renderDocuments(body);
  }

  function renderDocuments(body) {
    const list = $("doc-list");
    list.replaceChildren();
    for (const doc of body.documents) {
      const del = el("button", {
        type: "button",
        class: "danger small",
        "aria-label": "Delete " + doc.source,
        "data-testid": "delete-doc",
        text: "Delete",
      });
      del.addEventListener("click", () => deleteDocument(doc, del));
      list.append(
        el(
          "li",
          { class: "doc", "data-testid": "doc-item", "data-id": doc.id, "data-source": doc.source },
          el(
            "div",
            { class: "doc-main" },
            el("span", { class: "file", title: doc.source, text: doc.source }),
            el("span", {
              class: "muted small",
              text: doc.collection + " · " + doc.chunks + (doc.chunks === 1 ? " chunk" : " chunks") + " · " +
                formatDate(doc.created_at),
            }),
          ),
          del,
        ),
      );
    }
    if (!body.documents.length) {
      list.append(el("li", { class: "empty muted", text: "No documents yet." }));
    }
    const first = body.total ? body.offset + 1 : 0;
    const last = body.offset + body.documents.length;
    $("docs-range").textContent = body.total ? first + "–" + last + " of " + body.total : "";
    $("docs-count").textContent = body.total + (body.total === 1 ? " document" : " documents");
    $("docs-prev").disabled = body.offset <= 0;
    $("docs-next").disabled = last >= body.total;
    // The "upload a document" hint shows only while there are none (a filtered list says nothing about that).
    const hint = $("answers-empty");
    if (hint && !state.docs.collection) hint.hidden = body.total > 0;
  }

  async function deleteDocument(doc, button) {
    if (!window.confirm('Delete "' + doc.source + '" and all its passages? This cannot be undone.')) return;
    button.disabled = true;
    try {
      await api("/documents/" + encodeURIComponent(doc.id), { method: "DELETE" });
      setMessage($("docs-message"), 'Deleted "' + doc.source + '".', "ok");
      await loadDocuments();
    } catch (err) {
      setMessage($("docs-message"), err.message, "error");
      button.disabled = false;
    }
  }

  function initDocuments() {
    $("docs-filter").addEventListener("submit", (e) => {
      e.preventDefault();
      state.docs.collection = $("docs-collection").value.trim();
      state.docs.offset = 0;
      loadDocuments();
    });
    $("docs-refresh").addEventListener("click", () => loadDocuments());
    $("docs-prev").addEventListener("click", () => {
      state.docs.offset = Math.max(0, state.docs.offset - PAGE_SIZE);
      loadDocuments();
    });
    $("docs-next").addEventListener("click", () => {
      state.docs.offset += PAGE_SIZE;
      loadDocuments();
    });
  }

  // ---------------------------------------------------------------- server-sent events over fetch

  function parseEvent(block) {
    let event = "message";
    const data = [];
    for (let line of block.split("\n")) {
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (!line || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? "" : line.slice(colon + 1);
      if (value.startsWith(" ")) value = value.slice(1);
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
    }
    return data.length ? { event, data: data.join("\n") } : null;
  }

  // EventSource cannot POST, so read the stream by hand.
  async function readEvents(stream, onEvent) {
    const reader = stream.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const parsed = parseEvent(buffer.slice(0, cut));
        buffer = buffer.slice(cut + 2);
        if (parsed) onEvent(parsed.event, parsed.data);
      }
    }
    buffer += decoder.decode();
    const parsed = parseEvent(buffer);
    if (parsed) onEvent(parsed.event, parsed.data);
  }

  // ---------------------------------------------------------------- asking

  function newAnswerCard(question) {
    const node = $("answer-template").content.firstElementChild.cloneNode(true);
    node.querySelector(".answer-question").textContent = question;
    const empty = $("answers-empty");
    if (empty) empty.remove();
    $("answers").prepend(node);
    return node;
  }

  function setCardState(card, text, kind) {
    const badge = card.querySelector(".badge");
    badge.textContent = text;
    badge.dataset.kind = kind;
    card.dataset.state = kind;
  }

  function setBusy(busy) {
    $("ask-button").disabled = busy;
    $("stop-button").hidden = !busy;
    $("answers").setAttribute("aria-busy", busy ? "true" : "false");
  }

  // The stages a streamed answer reports before its text (event: status).
  const STAGES = {
    retrieving: "finding passages…",
    generating: "writing…",
    checking: "checking the answer…",
  };

  async function onAsk(event) {
    event.preventDefault();
    if (state.ask) return;
    const question = $("question").value.trim();
    const message = $("ask-message");
    if (!question) {
      setMessage(message, "Type a question first.", "error");
      return;
    }
    setMessage(message, "", "");
    const request = { question, stream: true };
    const detail = $("detail").value;
    const tone = $("tone").value;
    const collection = $("ask-collection").value.trim();
    if (detail) request.detail = detail;
    if (tone) request.tone = tone;
    if (collection) request.collection = collection;

    const card = newAnswerCard(question);
    const textNode = card.querySelector(".answer-text");
    const timings = { askStart: performance.now(), firstToken: null, final: null };
    window.__ragTimings = timings;
    const controller = new AbortController();
    state.ask = { controller };
    setBusy(true);
    setCardState(card, "asking…", "writing");

    let finished = false;
    try {
      let resp;
      try {
        resp = await fetch("/ask", {
          method: "POST",
          headers: authHeaders({ "Content-Type": "application/json", Accept: "text/event-stream" }),
          body: JSON.stringify(request),
          signal: controller.signal,
        });
      } catch (err) {
        if (err.name === "AbortError") throw err;
        throw new Error("The server could not be reached.");
      }
      if (!resp.ok) throw await responseError(resp);
      if (!(resp.headers.get("content-type") || "").includes("text/event-stream")) {
        timings.final = performance.now();
        renderFinal(card, await resp.json(), timings);
        finished = true;
        return;
      }
      await readEvents(resp.body, (name, data) => {
        let payload;
        try {
          payload = JSON.parse(data);
        } catch (_) {
          return;
        }
        if (name === "status") {
          setCardState(card, STAGES[payload.stage] || "working…", "writing");
        } else if (name === "token") {
          // The server sends text only once the adjustment stage has checked it, so what is shown is the answer.
          if (timings.firstToken === null) timings.firstToken = performance.now();
          textNode.append(payload.delta || "");
        } else if (name === "final") {
          timings.final = performance.now();
          renderFinal(card, payload, timings);
          finished = true;
        } else if (name === "error") {
          finished = true;
          showCardError(card, messageOf(payload));
        }
      });
      if (!finished) showCardError(card, "The answer stream ended before the answer was complete.");
    } catch (err) {
      if (err.name === "AbortError") {
        setCardState(card, "stopped", "stopped");
        textNode.classList.remove("streaming");
      } else {
        showCardError(card, err.message);
      }
    } finally {
      state.ask = null;
      setBusy(false);
    }
  }

  function showCardError(card, text) {
    setCardState(card, "error", "error");
    const textNode = card.querySelector(".answer-text");
    textNode.classList.remove("streaming");
    const note = el("p", { class: "card-error", role: "alert", "data-testid": "answer-error", text });
    textNode.after(note);
  }

  // Citation markers such as [1] or [1, 2] become links to the source panel.
  function renderMarkedText(container, text, known, onCite) {
    container.replaceChildren();
    const pattern = new RegExp(MARKER.source, "g");
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      const numbers = match[1].split(",").map((n) => Number(n.trim()));
      if (!numbers.every((n) => known.has(n))) continue;
      container.append(text.slice(last, match.index));
      numbers.forEach((n) => {
        const link = el("a", {
          href: "#source-panel",
          class: "cite",
          "data-cite": n,
          "data-testid": "cite-link",
          "aria-label": "Citation " + n + ": " + known.get(n).source,
          text: "[" + n + "]",
        });
        link.addEventListener("click", (e) => {
          e.preventDefault();
          onCite(n);
        });
        container.append(link);
      });
      last = match.index + match[0].length;
    }
    container.append(text.slice(last));
  }

  const MARKER = /\[(\d+(?:\s*,\s*\d+)*)\]/;

  // When the answer text carries no markers, place each checked sentence's citations after it (before its
  // closing punctuation), so every cited sentence still links to its source.
  function withMarkers(answer, known) {
    const text = answer.answer || "";
    if (MARKER.test(text) || !Array.isArray(answer.sentences)) return text;
    const closing = /[.!?:;]+["')\]]*$/;
    const markers = (numbers) => " " + numbers.map((n) => "[" + n + "]").join("");
    let out = "";
    let cursor = 0;
    for (const sentence of answer.sentences) {
      const numbers = (sentence.citations || []).filter((n) => known.has(n));
      const at = sentence.text ? text.indexOf(sentence.text, cursor) : -1;
      if (!numbers.length || at < 0) continue;
      let end = at + sentence.text.length;
      const close = closing.exec(sentence.text);
      if (close) end -= close[0].length;
      out += text.slice(cursor, end) + markers(numbers);
      cursor = end;
    }
    if (cursor > 0) return out + text.slice(cursor);
    // The style step rewrote the sentences (a short answer, say): cite them all at the end.
    const all = (answer.citations || []).map((c) => c.number).filter((n, i, a) => a.indexOf(n) === i);
    if (!all.length || answer.abstained) return text;
    const close = closing.exec(text);
    const end = close ? text.length - close[0].length : text.length;
    return text.slice(0, end) + markers(all) + text.slice(end);
  }

  function renderFinal(card, answer, timings) {
    card.dataset.answerId = answer.answer_id;
    const textNode = card.querySelector(".answer-text");
    textNode.classList.remove("streaming");

    // Markers point at citations (the exact quoted text); passages back up any number not cited.
    const sources = new Map();
    for (const p of answer.passages || []) sources.set(p.number, { citation: null, passage: p, source: p.source });
    for (const c of answer.citations || []) {
      const entry = sources.get(c.number) || { passage: null };
      sources.set(c.number, { citation: c, passage: entry.passage, source: c.source });
    }
    const onCite = (n) => showSource(card, n, sources.get(n));
    renderMarkedText(textNode, withMarkers(answer, sources), sources, onCite);

    if (answer.abstained) {
      card.classList.add("abstained");
      setCardState(card, "no answer in your documents", "abstained");
    } else {
      setCardState(card, "answered", "answered");
    }

    // Citations list.
    const citations = answer.citations || [];
    const citeSection = card.querySelector(".citations");
    const citeList = card.querySelector(".citation-list");
    citeList.replaceChildren();
    for (const c of citations) {
      const button = el(
        "button",
        { type: "button", class: "citation", "data-cite": c.number, "data-testid": "citation" },
        el("span", { class: "cite-num", text: "[" + c.number + "]" }),
        el("span", { class: "file", text: c.source }),
        c.page ? el("span", { class: "muted", text: " · page " + c.page }) : null,
        el("span", { class: "snippet", text: c.text }),
      );
      button.addEventListener("click", () => onCite(c.number));
      citeList.append(el("li", {}, button));
    }
    citeSection.hidden = citations.length === 0;

    // Retrieved passages, folded away.
    const passages = answer.passages || [];
    const passageList = card.querySelector(".passage-list");
    passageList.replaceChildren();
    for (const p of passages) {
      passageList.append(
        el(
          "li",
          {},
          el(
            "div",
            { class: "passage-head" },
            el("span", { class: "file", text: "[" + p.number + "] " + p.source }),
            el("span", {
              class: "muted",
              text: (p.page ? "page " + p.page + " · " : "") + "score " + Number(p.score).toFixed(3),
            }),
          ),
          el("p", { class: "passage-text", text: p.text }),
        ),
      );
    }
    card.querySelector(".passages").hidden = passages.length === 0;

    // Figures: what the server measured, and what this browser saw.
    const t = answer.timings || {};
    const parts = [];
    if (typeof answer.support === "number") parts.push("support " + answer.support.toFixed(2));
    if (t.retrieval_ms !== undefined) parts.push("retrieval " + ms(t.retrieval_ms));
    if (t.generation_ms !== undefined) parts.push("generation " + ms(t.generation_ms));
    if (t.adjust_ms !== undefined) parts.push("adjustment " + ms(t.adjust_ms));
    if (timings && timings.firstToken !== null) parts.push("first token after " + ms(timings.firstToken - timings.askStart));
    if (answer.adjustments && answer.adjustments.length) parts.push("adjusted: " + answer.adjustments.join(", "));
    card.querySelector(".answer-meta").textContent = parts.join(" · ");

    initFeedback(card, answer.answer_id);
  }

  function highlighted(text, start, end) {
    const frag = document.createDocumentFragment();
    frag.append(text.slice(0, start), el("mark", { text: text.slice(start, end) }), text.slice(end));
    return frag;
  }

  // Characters of the document shown on each side of a citation.
  const SOURCE_CONTEXT_CHARS = 400;

  // Offsets count Unicode code points (the server's string indices), so slice by code point too.
  function sliceCodePoints(chars, start, end) {
    return chars.slice(Math.max(0, start), Math.max(0, end)).join("");
  }

  // The document's text around the cited range, fetched through GET /documents/{id}/text.
  async function showDocumentContext(range, quote, token) {
    const context = $("source-context");
    const start = Math.max(0, range.start - SOURCE_CONTEXT_CHARS);
    const end = range.end + SOURCE_CONTEXT_CHARS;
    const body = await api(
      "/documents/" + encodeURIComponent(range.document_id) + "/text?start=" + start + "&end=" + end,
    );
    if (state.sourceToken !== token) return; // another citation was clicked meanwhile
    const chars = Array.from(body.text);
    let from = range.start - body.start;
    let to = range.end - body.start;
    let marked = sliceCodePoints(chars, from, to);
    if (marked !== quote) {
      const at = body.text.indexOf(quote);
      if (at < 0) throw new Error("the quote is not in the document's text");
      from = Array.from(body.text.slice(0, at)).length;
      to = from + Array.from(quote).length;
      marked = quote;
    }
    const frag = document.createDocumentFragment();
    frag.append(
      body.start > 0 ? "…" : "",
      sliceCodePoints(chars, 0, from),
      el("mark", { "data-testid": "source-context-mark", text: marked }),
      sliceCodePoints(chars, to, chars.length),
      body.end < body.characters ? "…" : "",
    );
    context.replaceChildren(frag);
    context.dataset.origin = "document";
    $("source-context-note").textContent =
      "characters " + body.start + "–" + body.end + " of " + body.characters + " in " + body.source;
  }

  // Without the document (the fetch failed): the retrieved passage around the quote, when it holds it.
  function showPassageContext(entry, quote) {
    const c = entry.citation;
    const p = entry.passage;
    const context = $("source-context");
    const around = p && c && p.document_id === c.document_id ? p : null;
    if (!around || around.text === quote) return false;
    let start = c.start - around.start;
    let end = c.end - around.start;
    if (around.text.slice(start, end) !== quote) {
      start = around.text.indexOf(quote);
      end = start + quote.length;
    }
    if (start < 0) return false;
    context.replaceChildren(highlighted(around.text, start, end));
    context.dataset.origin = "passage";
    return true;
  }

  function showSource(card, number, entry) {
    if (!entry) return;
    const panel = $("source-panel");
    const c = entry.citation;
    const p = entry.passage;
    const quote = c ? c.text : p.text;
    const page = c ? c.page : p.page;
    $("source-number").textContent = "[" + number + "]";
    $("source-file").textContent = entry.source;
    $("source-page").textContent = page ? "page " + page : "";
    $("source-quote").replaceChildren(el("mark", { text: quote }));

    // The document's text around the quote, with the quote highlighted.
    const contextWrap = $("source-context-wrap");
    const context = $("source-context");
    const note = $("source-context-note");
    context.replaceChildren(el("span", { class: "muted", text: "Loading the source text…" }));
    context.dataset.origin = "";
    note.textContent = "";
    contextWrap.hidden = false;
    contextWrap.open = true;
    const token = {};
    state.sourceToken = token;
    showDocumentContext(c || p, quote, token).catch((err) => {
      if (state.sourceToken !== token) return;
      if (showPassageContext(entry, quote)) {
        note.textContent = "The document's text could not be loaded (" + err.message + "); this is the passage.";
      } else {
        contextWrap.hidden = true;
      }
    });

    // Mark the chosen citation wherever it shows.
    document.querySelectorAll(".cite.active, .citation.active").forEach((n) => n.classList.remove("active"));
    card.querySelectorAll('[data-cite="' + number + '"]').forEach((n) => n.classList.add("active"));
    state.activeCite = number;

    panel.hidden = false;
    panel.scrollIntoView({ block: "nearest", behavior: "smooth" });
    panel.focus({ preventScroll: true });
  }

  function closeSource() {
    state.sourceToken = null;
    $("source-panel").hidden = true;
    document.querySelectorAll(".cite.active, .citation.active").forEach((n) => n.classList.remove("active"));
    state.activeCite = null;
  }

  // ---------------------------------------------------------------- feedback

  function initFeedback(card, answerId) {
    const footer = card.querySelector(".feedback");
    footer.hidden = !answerId;
    const note = footer.querySelector(".feedback-note");
    const buttons = Array.from(footer.querySelectorAll(".thumb"));
    for (const button of buttons) {
      button.addEventListener("click", async () => {
        const rating = Number(button.dataset.rating);
        const request = { answer_id: answerId, rating };
        const preferred = footer.querySelector(".prefer-detail").value;
        if (preferred) request.preferred_detail = preferred;
        buttons.forEach((b) => {
          b.disabled = true;
        });
        try {
          const body = await api("/feedback", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify(request),
          });
          button.setAttribute("aria-pressed", "true");
          let text = "Thanks, your feedback is recorded.";
          if (body.defaults_changed) {
            const detail = body.collection_defaults && body.collection_defaults.detail;
            text += detail
              ? ' Answers in this collection now default to "' + detail + '" detail.'
              : " This collection's default answer settings changed.";
          }
          setMessage(note, text, body.defaults_changed ? "changed" : "ok");
        } catch (err) {
          setMessage(note, err.message, "error");
          buttons.forEach((b) => {
            b.disabled = false;
          });
        }
      });
    }
  }

  // ---------------------------------------------------------------- start

  function init() {
    initKey();
    initDocuments();
    $("upload-form").addEventListener("submit", onUpload);
    $("ask-form").addEventListener("submit", onAsk);
    $("question").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        $("ask-form").requestSubmit();
      }
    });
    $("stop-button").addEventListener("click", () => {
      if (state.ask) state.ask.controller.abort();
    });
    $("source-close").addEventListener("click", closeSource);
    document.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && !$("source-panel").hidden) closeSource();
    });
    pollReady();
    loadDocuments();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
