// searchsvc's search box for any site. A page adds
//   <script src="https://search.example.fr/searchbox.js" defer></script>
// and an <input data-searchsvc> (its own field) or a <div data-searchsvc> (a field is made in
// it), and gets instant results under the field from the service the script came from.
//
// As the search page's search.js: each pause in typing sends one request (to the JSON API,
// /api/search?typing=1), the previous one aborted; results stay until new ones arrive; a busy
// server (503 overloaded, Retry-After) is asked again after the delay it gives. The field is
// a WAI-ARIA combobox whose listbox holds the hits, the did-you-mean and « Voir les N
// résultats ». Nothing from a hit becomes HTML: titles are text, and snippets keep only the
// <mark> the API puts around matched words (the rest is copied as text). No cookie is sent.
// Options on the element: data-searchsvc-results (hits shown, 5), data-searchsvc-links="url"
// (a hit opens the document's own address when it has one, not the service's page).
(function () {
  "use strict";

  var script = document.currentScript;
  if (!script || window.searchsvcBox) return;
  if (!window.fetch || !window.AbortController || !window.URLSearchParams) return;
  window.searchsvcBox = true;

  var BASE = new URL(".", script.src).href; // the service, path prefix included
  var PAUSE_MS = 90; // a pause in typing this long sends a request
  var LOADING_AFTER_MS = 150; // slower answers dim the results shown meanwhile
  var BUSY_TRIES = 5; // a busy server is asked again this many times
  var NETWORK_TRIES = 2; // an unreachable one (or one refusing this origin)
  var NETWORK_WAIT_S = 2;
  var NB = "\u00a0"; // before : and inside « »
  var NNB = "\u202f"; // before ? ! ;
  var TEXTS = {
    fr: {
      label: "Rechercher",
      list: "Résultats de la recherche",
      all: function (n, s) {
        return n === 1 ? "Voir le résultat" : "Voir les " + s + " résultats";
      },
      count: function (n, s) {
        return n ? (n === 1 ? "1 résultat" : s + " résultats") : "Aucun résultat";
      },
      none: function (q) {
        return "Aucun résultat pour «" + NB + q + NB + "».";
      },
      mean: ["Vouliez-vous dire" + NB + ": ", NNB + "?"],
      busy: "Serveur occupé, nouvel essai…",
      unreachable: "Le service de recherche ne répond pas, nouvel essai…",
      failed: "La recherche n’a pas abouti" + NB + ": réessayez dans un instant.",
      overloaded: "Le service est très sollicité" + NB + ": réessayez dans un instant.",
      bad_request: "Cette recherche n’a pas pu être comprise.",
      query_too_expensive:
        "Cette recherche demanderait trop de calcul" + NB + ": précisez-la.",
      index_unavailable: "La recherche n’est pas disponible pour le moment.",
    },
    en: {
      label: "Search",
      list: "Search results",
      all: function (n, s) {
        return n === 1 ? "See the result" : "See all " + s + " results";
      },
      count: function (n, s) {
        return n ? (n === 1 ? "1 result" : s + " results") : "No results";
      },
      none: function (q) {
        return "No results for “" + q + "”.";
      },
      mean: ["Did you mean: ", "?"],
      busy: "Server busy, trying again…",
      unreachable: "The search service does not answer, trying again…",
      failed: "The search failed: try again in a moment.",
      overloaded: "The service is very busy: try again in a moment.",
      bad_request: "This search could not be understood.",
      query_too_expensive: "This search would take too much work: make it more precise.",
      index_unavailable: "Search is not available at the moment.",
    },
  };
  TEXTS.fr.index_damaged = TEXTS.fr.index_unavailable;
  TEXTS.en.index_damaged = TEXTS.en.index_unavailable;

  var CSS = [
    ".searchsvc{position:relative}",
    ".searchsvc-form{margin:0}",
    ".searchsvc-input{box-sizing:border-box;width:100%;margin:0;padding:.5em .75em;" +
      "font:inherit;font-family:var(--searchsvc-font,inherit);" +
      "color:var(--searchsvc-fg,#1b1b1b);background:var(--searchsvc-bg,#fff);" +
      "border:1px solid var(--searchsvc-border,#767676);border-radius:var(--searchsvc-radius,6px)}",
    ".searchsvc-input:focus{outline:2px solid var(--searchsvc-accent,#1d4ed8);outline-offset:1px}",
    ".searchsvc-pop{position:absolute;z-index:2147483000;box-sizing:border-box;margin:0;" +
      "padding:.25rem 0;text-align:left;" +
      "font-family:var(--searchsvc-font,system-ui,sans-serif);font-size:var(--searchsvc-font-size,1rem);" +
      "font-weight:normal;line-height:1.4;color:var(--searchsvc-fg,#1b1b1b);" +
      "background:var(--searchsvc-bg,#fff);border:1px solid var(--searchsvc-border,#767676);" +
      "border-radius:var(--searchsvc-radius,6px);box-shadow:0 .4rem 1.5rem rgba(0,0,0,.18)}",
    ".searchsvc-pop[hidden],.searchsvc-list[hidden],.searchsvc-note[hidden]{display:none}",
    ".searchsvc-list{list-style:none;margin:0;padding:0}",
    ".searchsvc-opt{display:block;margin:0;padding:.45rem .75rem;cursor:pointer;" +
      "border-left:3px solid transparent;overflow-wrap:anywhere}",
    ".searchsvc-opt[aria-selected=true]{background:var(--searchsvc-active-bg,#e8eefb);" +
      "border-left-color:var(--searchsvc-accent,#1d4ed8)}",
    ".searchsvc-title{display:block;font-weight:600;color:var(--searchsvc-accent,#1d4ed8)}",
    ".searchsvc-snippet{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:3;" +
      "overflow:hidden;font-size:.875em;color:var(--searchsvc-muted,#4a4a4a)}",
    ".searchsvc-snippet mark{padding:0;color:inherit;background:var(--searchsvc-mark-bg,#fde68a)}",
    ".searchsvc-all{font-weight:600;color:var(--searchsvc-accent,#1d4ed8)}",
    ".searchsvc-note{margin:0;padding:.45rem .75rem;color:var(--searchsvc-muted,#4a4a4a)}",
    ".searchsvc-error{color:var(--searchsvc-error,#b00020)}",
    ".searchsvc-loading .searchsvc-list{opacity:.55}",
    ".searchsvc-sr{position:absolute;width:1px;height:1px;margin:-1px;padding:0;border:0;" +
      "overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
  ].join("\n");

  // Styles through a constructed sheet, which a host page's Content-Security-Policy without
  // 'unsafe-inline' allows; a <style> element where the browser has none.
  function addStyles() {
    try {
      var sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      document.adoptedStyleSheets = document.adoptedStyleSheets.concat([sheet]);
    } catch (e) {
      var style = document.createElement("style");
      style.textContent = CSS;
      document.head.appendChild(style);
    }
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text) node.textContent = text;
    return node;
  }

  // The API's snippet (HTML: <mark> around matched words, everything else escaped) as nodes:
  // parsed in an inert document, its text copied as text and its marks as new marks, so that
  // nothing but text and <mark> can reach the page whatever the answer holds.
  function snippetNodes(html) {
    var parsed = new DOMParser().parseFromString("<body>" + html, "text/html").body;
    var out = document.createDocumentFragment();
    parsed.childNodes.forEach(function (node) {
      var isMark = node.nodeName === "MARK";
      out.appendChild(isMark ? el("mark", "", node.textContent) : document.createTextNode(node.textContent));
    });
    return out;
  }

  function docPath(id) {
    return encodeURIComponent(id).replace(/%2F/g, "/");
  }

  var boxes = 0;

  function Box(host) {
    var n = ++boxes;
    var input = host;
    var ownForm = null;
    if (host.tagName !== "INPUT") {
      host.classList.add("searchsvc");
      ownForm = el("form", "searchsvc-form");
      ownForm.setAttribute("role", "search");
      ownForm.action = BASE;
      ownForm.method = "get";
      input = el("input", "searchsvc-input");
      input.type = "search";
      input.name = "q";
      ownForm.appendChild(input);
      host.appendChild(ownForm);
    }
    var hostLang = ((host.closest("[lang]") || document.documentElement).getAttribute("lang") || "").toLowerCase();
    var lang = /^en\b/.test(hostLang) ? "en" : "fr";
    var T = TEXTS[lang];
    var numbers = new Intl.NumberFormat(lang === "fr" ? "fr-FR" : "en");
    var perPage = Math.min(Math.max(parseInt(host.getAttribute("data-searchsvc-results"), 10) || 5, 1), 10);
    var ownLinks = host.getAttribute("data-searchsvc-links") === "url";

    var pop = el("div", "searchsvc-pop");
    var note = el("p", "searchsvc-note");
    var list = el("ul", "searchsvc-list");
    var live = el("p", "searchsvc-sr");
    var listId = "searchsvc-" + n + "-list";
    pop.hidden = note.hidden = list.hidden = true;
    list.id = listId;
    list.setAttribute("role", "listbox");
    list.setAttribute("aria-label", T.list);
    note.setAttribute("aria-hidden", "true"); // read through `live`
    live.setAttribute("role", "status");
    if (hostLang.slice(0, 2) !== lang) pop.lang = live.lang = lang;
    pop.appendChild(note);
    pop.appendChild(list);
    pop.addEventListener("mousedown", function (event) {
      event.preventDefault(); // keep the focus in the field
    });
    var after = ownForm || input;
    after.insertAdjacentElement("afterend", pop);
    pop.insertAdjacentElement("afterend", live);

    input.setAttribute("role", "combobox");
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", listId);
    input.setAttribute("aria-expanded", "false");
    input.setAttribute("autocomplete", "off");
    var named = input.getAttribute("aria-label") || input.getAttribute("aria-labelledby") || input.title;
    if (!named && !(input.labels && input.labels.length)) input.setAttribute("aria-label", T.label);
    if (ownForm && !input.placeholder) input.placeholder = T.label + "…";

    var options = []; // {node, run(event)}
    var active = -1;
    var shownFor = null; // the text the options are for
    var pauseTimer = 0;
    var loadingTimer = 0;
    var retryTimer = 0;
    var controller = null;
    var seq = 0;

    function fullPage(q) {
      return BASE + "?" + new URLSearchParams({ q: q });
    }

    function go(url, event) {
      if (event && (event.ctrlKey || event.metaKey)) window.open(url, "_blank", "noopener");
      else location.assign(url);
    }

    // Where the popup goes: under the field, as wide as it or 384 px, within the window.
    function place() {
      var width = document.documentElement.clientWidth;
      var w = Math.min(Math.max(input.offsetWidth, 384), width - 16);
      var left = input.offsetLeft;
      var over = input.getBoundingClientRect().left + w - (width - 8);
      if (over > 0) left -= over;
      pop.style.width = w + "px";
      pop.style.left = left + "px";
      pop.style.top = input.offsetTop + input.offsetHeight + 4 + "px";
    }

    function refresh() {
      var focused = document.activeElement === input;
      var expanded = focused && options.length > 0;
      list.hidden = !expanded;
      pop.hidden = !focused || (!expanded && note.hidden);
      input.setAttribute("aria-expanded", expanded ? "true" : "false");
      if (!pop.hidden) place();
      if (!expanded) highlight(-1);
    }

    function highlight(index) {
      options.forEach(function (option, i) {
        option.node.setAttribute("aria-selected", i === index ? "true" : "false");
      });
      active = index;
      if (index >= 0) {
        input.setAttribute("aria-activedescendant", options[index].node.id);
        options[index].node.scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }

    function setNote(text, isError) {
      note.textContent = text || "";
      note.hidden = !text;
      note.classList.toggle("searchsvc-error", !!isError);
      if (text) live.textContent = text;
    }

    function clearOptions() {
      options = [];
      list.replaceChildren();
      highlight(-1);
    }

    function addOption(className, run) {
      var node = el("li", "searchsvc-opt " + className);
      node.id = "searchsvc-" + n + "-opt-" + options.length;
      node.setAttribute("role", "option");
      node.setAttribute("aria-selected", "false");
      node.addEventListener("click", function (event) {
        run(event);
      });
      list.appendChild(node);
      options.push({ node: node, run: run });
      return node;
    }

    function hitUrl(hit, q) {
      if (ownLinks && /^https?:\/\//i.test(hit.url || "")) return hit.url;
      return BASE + "doc/" + docPath(hit.id) + "?" + new URLSearchParams({ q: q });
    }

    function render(q, data) {
      clearOptions();
      setNote("");
      shownFor = q;
      list.setAttribute("data-searchsvc-q", q); // the text the results are for
      var hits = data.hits || [];
      if (data.suggestion) {
        var mean = addOption("searchsvc-mean", function () {
          input.value = data.suggestion;
          load(data.suggestion, false, 0);
        });
        mean.append(T.mean[0], el("strong", "", data.suggestion), T.mean[1]);
      }
      hits.forEach(function (hit) {
        var node = addOption("searchsvc-hit", function (event) {
          go(hitUrl(hit, q), event);
        });
        var title = el("span", "searchsvc-title", hit.title || hit.id);
        var snippet = el("span", "searchsvc-snippet");
        snippet.appendChild(snippetNodes(hit.snippet || ""));
        if (lang !== "fr") title.lang = snippet.lang = "fr";
        node.append(title, snippet);
      });
      var total = data.total || 0;
      if (total) {
        addOption("searchsvc-all", function (event) {
          go(fullPage(q), event);
        }).textContent = T.all(total, numbers.format(total));
      }
      if (!hits.length) setNote(T.none(q));
      live.textContent = T.count(total, numbers.format(total));
      refresh();
    }

    function setLoading(on) {
      clearTimeout(loadingTimer);
      if (!on) {
        pop.classList.remove("searchsvc-loading");
        list.removeAttribute("aria-busy");
        return;
      }
      loadingTimer = setTimeout(function () {
        pop.classList.add("searchsvc-loading");
        list.setAttribute("aria-busy", "true");
      }, LOADING_AFTER_MS);
    }

    function fail(text) {
      clearOptions(); // an error is never hidden under results
      shownFor = null;
      setNote(text, true);
      refresh();
    }

    // Ask the API for `q` (typing: its last word is a prefix); `attempt` counts retries.
    function load(q, typing, attempt) {
      if (controller) controller.abort();
      clearTimeout(retryTimer);
      var mine = ++seq;
      controller = new AbortController();
      var params = new URLSearchParams({ q: q, per_page: String(perPage) });
      if (typing) params.set("typing", "1");
      setLoading(true);

      function retry(text, seconds, tries, finalText) {
        if (attempt >= tries) return fail(finalText);
        setNote(text, text !== T.busy);
        refresh();
        retryTimer = setTimeout(function () {
          if (mine === seq) load(q, typing, attempt + 1);
        }, seconds * 1000);
      }

      fetch(BASE + "api/search?" + params, {
        signal: controller.signal,
        credentials: "omit",
        headers: { Accept: "application/json" },
      })
        .then(function (response) {
          return response.json().then(
            function (data) {
              return [response, data];
            },
            function () {
              return [response, null];
            }
          );
        })
        .then(function (answer) {
          if (mine !== seq) return;
          var response = answer[0];
          var data = answer[1] || {};
          if (response.ok) return render(q, data);
          var code = (data.error && data.error.code) || "";
          if (response.status === 503 && code === "overloaded") {
            // Shed by the server: nothing is wrong with the search, the results stay.
            var seconds = parseInt(response.headers.get("Retry-After"), 10);
            return retry(T.busy, Math.min(seconds >= 1 ? seconds : 1, 10), BUSY_TRIES, T.overloaded);
          }
          fail(T[code] || T.failed);
        })
        .catch(function (err) {
          if (err && err.name === "AbortError") return;
          if (mine === seq) retry(T.unreachable, NETWORK_WAIT_S, NETWORK_TRIES, T.failed);
        })
        .finally(function () {
          if (mine === seq) setLoading(false);
        });
    }

    function stop() {
      clearTimeout(pauseTimer);
      clearTimeout(retryTimer);
      if (controller) controller.abort();
      seq++;
      setLoading(false);
    }

    input.addEventListener("input", function () {
      clearTimeout(pauseTimer);
      clearTimeout(retryTimer);
      if (!input.value.trim()) {
        stop();
        clearOptions();
        setNote("");
        shownFor = null;
        refresh();
        return;
      }
      pauseTimer = setTimeout(function () {
        load(input.value, true, 0);
      }, PAUSE_MS);
    });

    input.addEventListener("keydown", function (event) {
      var open = !list.hidden && options.length > 0;
      var key = event.key;
      if (key === "ArrowDown" || key === "ArrowUp") {
        if (!options.length) return;
        event.preventDefault();
        if (!open) refresh();
        var last = options.length - 1;
        if (key === "ArrowDown") highlight(active >= last ? 0 : active + 1);
        else highlight(active <= 0 ? last : active - 1);
      } else if (key === "Enter") {
        if (open && active >= 0) {
          event.preventDefault();
          options[active].run(event);
        } else if (!input.form && input.value.trim()) {
          event.preventDefault(); // no form to send it: the service's results page
          go(fullPage(input.value), event);
        }
      } else if (key === "Escape") {
        if (!pop.hidden) {
          event.preventDefault();
          stop();
          pop.hidden = true;
          list.hidden = true;
          input.setAttribute("aria-expanded", "false");
          highlight(-1);
        }
      }
    });

    input.addEventListener("blur", function () {
      pop.hidden = true;
      refresh();
    });
    input.addEventListener("focus", function () {
      if (shownFor !== null && shownFor === input.value) refresh();
    });
    window.addEventListener("resize", function () {
      if (!pop.hidden) place();
    });
  }

  function start() {
    var hosts = document.querySelectorAll("input[data-searchsvc], div[data-searchsvc]");
    if (!hosts.length) return;
    addStyles();
    hosts.forEach(function (host) {
      if (!host.hasAttribute("data-searchsvc-ready")) {
        host.setAttribute("data-searchsvc-ready", "");
        Box(host);
      }
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
