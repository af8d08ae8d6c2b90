// searchsvc search page, made live: results as you type, autocomplete under the box,
// keyboard navigation, and the address kept in sync (shareable, back button works).
// The page works without this script: everything here is an enhancement.
(function () {
  "use strict";

  var form = document.querySelector("form.search-form");
  var input = document.getElementById("q");
  var list = document.getElementById("suggestions");
  var results = document.getElementById("results");
  if (!form || !input || !list || !results || !window.fetch || !window.history.pushState) {
    return;
  }

  var DEBOUNCE_MS = 200;
  var MAX_RESULT_WINDOW = 10000;
  var pagePath = new URL(form.action, location.href).pathname;
  var pageSize = parseInt(form.dataset.pageSize, 10) || 10;
  var searchApi = form.dataset.searchApi;
  var suggestApi = form.dataset.suggestApi;
  var docUrl = form.dataset.docUrl;
  var helpTemplate = document.getElementById("help-template");

  var timer = 0;
  var searchSeq = 0;
  var suggestSeq = 0;
  var searchAbort = null;
  var suggestAbort = null;
  var typingEntry = false; // the current history entry was made by typing: replace, don't push
  var shown = stateFromUrl(); // what the results area shows now
  var options = []; // current autocomplete completions
  var active = -1; // index of the highlighted completion

  // -- the combobox ------------------------------------------------------------------------

  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-controls", list.id);
  input.setAttribute("aria-expanded", "false");
  results.setAttribute("tabindex", "-1");
  history.replaceState({ q: shown.q, page: shown.page }, "", location.href);

  function toPage(raw) {
    var n = /^[0-9]{1,6}$/.test(raw || "") ? parseInt(raw, 10) : 1;
    return n >= 1 ? n : 1;
  }

  function stateFromUrl() {
    var params = new URLSearchParams(location.search);
    return { q: params.get("q") || "", page: toPage(params.get("page")) };
  }

  // Filters and sort come from the address (facet links are ordinary links) and are kept
  // in every search and link until the reader changes them; `changes` overrides them.
  var FILTERS = ["source", "date_from", "date_to", "sort"];

  function currentFilters(changes) {
    var params = new URLSearchParams(location.search);
    var out = {};
    FILTERS.forEach(function (name) {
      var value = changes && name in changes ? changes[name] : params.get(name);
      if (value) out[name] = value;
    });
    return out;
  }

  function pageUrl(q, page, changes) {
    var params = new URLSearchParams();
    if (q) params.set("q", q);
    if (page > 1) params.set("page", String(page));
    var filters = currentFilters(changes);
    Object.keys(filters).forEach(function (name) {
      params.set(name, filters[name]);
    });
    var qs = params.toString();
    return pagePath + (qs ? "?" + qs : "");
  }

  function docHref(id, q, page) {
    var path = docUrl.replace("__ID__", id.split("/").map(encodeURIComponent).join("/"));
    var params = new URLSearchParams();
    if (q) params.set("q", q);
    if (page > 1) params.set("page", String(page));
    var qs = params.toString();
    return path + (qs ? "?" + qs : "");
  }

  function closeList() {
    list.hidden = true;
    list.replaceChildren();
    options = [];
    active = -1;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
  }

  function highlight(index) {
    var items = list.children;
    for (var i = 0; i < items.length; i++) {
      items[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index >= 0 && items[index]) {
      input.setAttribute("aria-activedescendant", items[index].id);
      items[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function showOptions(words) {
    closeList();
    var typed = input.value;
    words = words.filter(function (w) {
      return w !== typed;
    });
    if (!words.length || document.activeElement !== input) return;
    words.forEach(function (word, i) {
      var li = document.createElement("li");
      li.id = "suggestion-" + i;
      li.setAttribute("role", "option");
      li.setAttribute("aria-selected", "false");
      li.textContent = word;
      li.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the box
      });
      li.addEventListener("click", function () {
        choose(word);
      });
      list.appendChild(li);
    });
    options = words;
    list.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function choose(word) {
    input.value = word;
    closeList();
    commit(word, 1);
  }

  function suggest(q) {
    if (suggestAbort) suggestAbort.abort();
    if (!q.trim() || /\s$/.test(q)) {
      closeList();
      return;
    }
    var seq = ++suggestSeq;
    suggestAbort = new AbortController();
    fetch(suggestApi + "?" + new URLSearchParams({ q: q }), {
      signal: suggestAbort.signal,
      headers: { Accept: "application/json" },
    })
      .then(function (r) {
        return r.ok ? r.json() : { suggestions: [] };
      })
      .then(function (data) {
        if (seq === suggestSeq && input.value === q) showOptions(data.suggestions || []);
      })
      .catch(function () {
        /* autocomplete is optional: stay quiet */
      });
  }

  // -- results -----------------------------------------------------------------------------

  function frInt(n) {
    return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  }

  function frMs(ms) {
    return Number(ms).toFixed(1).replace(".", ",");
  }

  function make(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      node.setAttribute(name, attrs[name]);
    });
    (children || []).forEach(function (child) {
      node.append(child);
    });
    return node;
  }

  // Snippets are HTML in which only <mark> is markup; copy just text and <mark> to be sure.
  function snippetNodes(html) {
    var template = document.createElement("template");
    template.innerHTML = html;
    var out = document.createDocumentFragment();
    (function copy(from, to) {
      from.childNodes.forEach(function (node) {
        if (node.nodeType === Node.TEXT_NODE) {
          to.append(node.textContent);
        } else if (node.nodeName === "MARK") {
          var mark = document.createElement("mark");
          copy(node, mark);
          to.append(mark);
        } else {
          copy(node, to);
        }
      });
    })(template.content, out);
    return out;
  }

  function pageWindow(current, last) {
    if (last <= 1) return [];
    var shownPages = [1, last];
    for (var n = Math.max(1, current - 2); n <= Math.min(last, current + 2); n++) {
      shownPages.push(n);
    }
    shownPages = shownPages
      .filter(function (n, i) {
        return shownPages.indexOf(n) === i;
      })
      .sort(function (a, b) {
        return a - b;
      });
    var out = [];
    var previous = 0;
    shownPages.forEach(function (n) {
      if (n - previous > 1) out.push(null);
      out.push(n);
      previous = n;
    });
    return out;
  }

  function statusNode(text, cls) {
    return make("p", { class: cls }, [text]);
  }

  function emptyState(data, last) {
    var box = make("div", { class: "empty" });
    if (data.total) {
      box.append(
        make("p", {}, [
          "Cette page est vide : les résultats tiennent sur " +
            last +
            " page" +
            (last > 1 ? "s" : "") +
            ".",
        ]),
        make("p", {}, [make("a", { href: pageUrl(data.query, 1) }, ["Revenir à la première page"])]),
      );
    } else if (data.notice === "stop_words_only") {
      box.append(
        make("p", {}, [
          "Votre recherche ne contient que des mots très courants (comme « le » ou « de »), " +
            "qui ne sont pas recherchés.",
        ]),
        make("p", {}, ["Ajoutez un mot plus précis."]),
      );
    } else {
      box.append(
        make("p", {}, ["Aucun article ne correspond à « ", make("strong", {}, [data.query]), " »."]),
        make("ul", {}, [
          make("li", {}, ["Vérifiez l'orthographe des mots."]),
          make("li", {}, ["Essayez d'autres mots, ou des mots plus généraux."]),
          make("li", {}, ["Retirez des mots, un signe « - » ou des guillemets."]),
        ]),
      );
    }
    return box;
  }

  function pagination(data, last) {
    var pages = pageWindow(data.page, last);
    if (!pages.length) return null;
    var items = [];
    if (data.page > 1) {
      items.push(
        make("li", {}, [
          make("a", { rel: "prev", href: pageUrl(data.query, data.page - 1) }, ["‹ Précédente"]),
        ]),
      );
    }
    pages.forEach(function (n) {
      if (n === null) {
        items.push(make("li", { class: "gap", "aria-hidden": "true" }, ["…"]));
        return;
      }
      var attrs = { href: pageUrl(data.query, n), "aria-label": "Page " + n };
      if (n === data.page) {
        attrs["aria-current"] = "page";
        attrs["aria-label"] = "Page " + n + ", page actuelle";
      }
      items.push(make("li", {}, [make("a", attrs, [String(n)])]));
    });
    if (data.page < last) {
      items.push(
        make("li", {}, [
          make("a", { rel: "next", href: pageUrl(data.query, data.page + 1) }, ["Suivante ›"]),
        ]),
      );
    }
    return make("nav", { class: "pagination", "aria-label": "Pages de résultats" }, [
      make("ul", {}, items),
    ]);
  }

  function setStatus(node) {
    var status = document.getElementById("status");
    status.replaceChildren();
    if (node) status.append(node);
  }

  function clearResults() {
    Array.prototype.slice.call(results.children).forEach(function (child) {
      if (child.id !== "status") child.remove();
    });
  }

  function renderHome() {
    clearResults();
    setStatus(null);
    if (helpTemplate) results.append(helpTemplate.content.cloneNode(true));
  }

  function renderError(text) {
    clearResults();
    setStatus(statusNode(text, "error"));
  }

  function refineNode(data) {
    var byDate = data.sort === "date";
    var sort = make("p", { class: "sort" }, [
      "Trier par : ",
      byDate ? make("a", { href: pageUrl(data.query, 1, { sort: "" }) }, ["pertinence"]) : make("strong", {}, ["pertinence"]),
      " · ",
      byDate ? make("strong", {}, ["date"]) : make("a", { href: pageUrl(data.query, 1, { sort: "date" }) }, ["date"]),
    ]);
    var nav = make("nav", { class: "refine", "aria-label": "Affiner" }, [sort]);
    var chosen = data.filters && data.filters.source;
    var values = (data.facets && data.facets.source) || [];
    if (chosen || values.length) {
      var parts = ["Source : "];
      if (chosen) {
        parts.push(make("strong", {}, [chosen]), " · ");
        parts.push(make("a", { href: pageUrl(data.query, 1, { source: "" }) }, ["toutes les sources"]));
      } else {
        values.forEach(function (f, i) {
          if (i) parts.push(" · ");
          parts.push(make("a", { href: pageUrl(data.query, 1, { source: f.value }) }, [f.value]));
          parts.push(" (" + frInt(f.count) + ")");
        });
      }
      nav.append(make("p", { class: "facets" }, parts));
    }
    return nav;
  }

  function render(data) {
    clearResults();
    var summary =
      (data.total ? frInt(data.total) + " résultat" + (data.total > 1 ? "s" : "") : "Aucun résultat") +
      " (" +
      frMs(data.took_ms) +
      " ms)";
    setStatus(statusNode(summary, "summary"));
    var last = Math.min(data.pages, Math.floor(MAX_RESULT_WINDOW / data.per_page));
    if (data.suggestion) {
      results.append(
        make("p", { class: "suggestion" }, [
          "Vouliez-vous dire : ",
          make("a", { href: pageUrl(data.suggestion, 1) }, [data.suggestion]),
          " ?",
        ]),
      );
    }
    if (data.relaxed) {
      results.append(
        make("p", { class: "notice" }, [
          "Aucun document ne contient tous les mots : voici ceux qui en contiennent le plus.",
        ]),
      );
    }
    if (data.approximate && data.approximate.length) {
      var words = data.approximate.map(function (w) { return "« " + w + " »"; }).join(", ");
      results.append(
        make("p", { class: "notice" }, [
          "Aucun document ne contient " + words + " : résultats pour des mots proches.",
        ]),
      );
    }
    if (data.total) results.append(refineNode(data));
    if (data.hits.length) {
      var ol = make("ol", { class: "hits", start: String((data.page - 1) * data.per_page + 1) });
      data.hits.forEach(function (hit) {
        var li = make("li", { class: "hit" }, [
          make("h2", { class: "hit-title" }, [
            make("a", { href: docHref(hit.id, data.query, data.page) }, [hit.title || hit.id]),
          ]),
          make("p", { class: "snippet" }, [snippetNodes(hit.snippet)]),
        ]);
        var meta = [hit.date, hit.source].filter(Boolean).join(" · ");
        if (meta) li.append(make("p", { class: "hit-meta" }, [meta]));
        ol.append(li);
      });
      results.append(ol);
    } else {
      results.append(emptyState(data, last));
    }
    var nav = pagination(data, last);
    if (nav) results.append(nav);
  }

  function errorText(status, q) {
    if (status === 400) {
      return q.length > 1000
        ? "La recherche est trop longue (1000 caractères au plus)."
        : "Cette recherche ne peut pas être traitée : simplifiez-la.";
    }
    if (status === 503) {
      return "Le moteur de recherche n'est pas prêt : l'index n'est pas encore construit.";
    }
    return "La recherche n'a pas abouti : réessayez dans un instant.";
  }

  function setTitle(q) {
    document.title = (q.trim() ? q + " – Recherche" : "Recherche") + " · searchsvc";
  }

  // Show the results for (q, page); `how` says what to do with the history entry.
  function run(q, page, how) {
    if (how === "push") history.pushState({ q: q, page: page }, "", pageUrl(q, page));
    else if (how === "replace") history.replaceState({ q: q, page: page }, "", pageUrl(q, page));
    setTitle(q);
    shown = { q: q, page: page };
    if (searchAbort) searchAbort.abort();
    var seq = ++searchSeq;
    if (!q.trim()) {
      renderHome();
      return Promise.resolve();
    }
    searchAbort = new AbortController();
    results.setAttribute("aria-busy", "true");
    var params = new URLSearchParams(
      Object.assign({ q: q, page: String(page), per_page: String(pageSize) }, currentFilters()),
    );
    return fetch(searchApi + "?" + params, {
      signal: searchAbort.signal,
      headers: { Accept: "application/json" },
    })
      .then(function (r) {
        return r.json().then(function (data) {
          if (seq !== searchSeq) return;
          if (r.ok) render(data);
          else renderError(errorText(r.status, q));
        });
      })
      .catch(function (err) {
        if (seq === searchSeq && err.name !== "AbortError") renderError(errorText(0, q));
      })
      .finally(function () {
        if (seq === searchSeq) results.removeAttribute("aria-busy");
      });
  }

  // A deliberate search (Enter, a completion chosen): it completes the entry typing made, or
  // gets its own.
  function commit(q, page) {
    clearTimeout(timer);
    var same = q === shown.q && page === shown.page;
    run(q, page, typingEntry ? "replace" : same ? "none" : "push");
    typingEntry = false;
  }

  // -- events ------------------------------------------------------------------------------

  input.addEventListener("input", function () {
    clearTimeout(timer);
    if (!input.value.trim()) closeList();
    timer = setTimeout(function () {
      var q = input.value;
      suggest(q);
      if (q === shown.q) return;
      run(q, 1, typingEntry ? "replace" : "push");
      typingEntry = true;
    }, DEBOUNCE_MS);
  });

  input.addEventListener("keydown", function (event) {
    var open = !list.hidden && options.length > 0;
    if (event.key === "ArrowDown" || event.key === "Down") {
      if (!open) return;
      event.preventDefault();
      highlight(active + 1 >= options.length ? 0 : active + 1);
    } else if (event.key === "ArrowUp" || event.key === "Up") {
      if (!open) return;
      event.preventDefault();
      highlight(active <= 0 ? options.length - 1 : active - 1);
    } else if (event.key === "Enter") {
      if (open && active >= 0) {
        event.preventDefault();
        choose(options[active]);
      }
    } else if (event.key === "Escape" || event.key === "Esc") {
      if (open) {
        event.preventDefault();
        closeList();
      }
    } else if (event.key === "Tab") {
      closeList();
    }
  });

  input.addEventListener("blur", closeList);

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    closeList();
    commit(input.value, 1);
  });

  // Pagination and "Vouliez-vous dire" links: same page, new results, new history entry.
  results.addEventListener("click", function (event) {
    var link = event.target.closest("a[href]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var url = new URL(link.href, location.href);
    if (url.origin !== location.origin || url.pathname !== pagePath) return;
    event.preventDefault();
    var q = url.searchParams.get("q") || "";
    var page = toPage(url.searchParams.get("page"));
    input.value = q;
    closeList();
    clearTimeout(timer);
    typingEntry = false;
    run(q, page, q === shown.q && page === shown.page ? "none" : "push");
    results.focus({ preventScroll: true });
    results.scrollIntoView({ block: "start" });
  });

  window.addEventListener("popstate", function (event) {
    var state = event.state || stateFromUrl();
    clearTimeout(timer);
    closeList();
    typingEntry = false;
    input.value = state.q;
    if (state.q !== shown.q || state.page !== shown.page) run(state.q, state.page, "none");
  });
})();
