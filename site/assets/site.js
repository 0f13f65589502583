// Progressive enhancement only: every page works without this file.
(() => {
  // A message about the last action shows once: a reload or a shared link does not repeat it.
  if (document.querySelector('[data-once]') && /[?&]flash=/.test(location.search)) {
    const url = new URL(location.href);
    url.searchParams.delete('flash');
    history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
  const input = document.querySelector('[data-check-handle]');
  if (input) {
    const problem = document.getElementById('handle-problem');
    const preview = document.getElementById('handle-preview');
    let timer = null;
    input.addEventListener('input', () => {
      preview.textContent = input.value || 'handle';
      clearTimeout(timer);
      timer = setTimeout(() => {
        const value = input.value.trim();
        if (!value) return;
        fetch(`/api/handles/${encodeURIComponent(value)}`, { credentials: 'same-origin' })
          .then((r) => r.json())
          .then((data) => {
            if (input.value.trim() !== value) return;
            problem.textContent = data.available ? '' : data.problem;
            problem.className = data.available ? 'ok' : 'error';
            if (data.available) problem.textContent = `${value} is available`;
            input.setAttribute('aria-invalid', data.available ? 'false' : 'true');
          })
          .catch(() => {});
      }, 250);
    });
  }
  const list = document.getElementById('events');
  const status = document.getElementById('instance-status');
  if (list && status && window.EventSource) {
    const source = new EventSource(list.getAttribute('data-events-url'));
    source.addEventListener('instance', (message) => {
      const event = JSON.parse(message.data);
      const li = document.createElement('li');
      li.textContent = event.message;
      list.appendChild(li);
      if (event.to) {
        status.textContent = event.to;
        status.setAttribute('data-status', event.to);
        // The actions depend on the state: once it settles, take the right ones from a fresh
        // copy of the page (no reload: whatever has the focus, say a half-typed profile, keeps it).
        if (['running', 'stopped', 'failed'].indexOf(event.to) !== -1) {
          fetch('/dashboard', { credentials: 'same-origin', cache: 'no-store' })
            .then((r) => r.text())
            .then((html) => {
              const fresh = new DOMParser().parseFromString(html, 'text/html');
              for (const id of ['actions']) {
                const now = document.getElementById(id);
                const next = fresh.getElementById(id);
                if (now && next) now.innerHTML = next.innerHTML;
              }
            })
            .catch(() => {});
        }
      }
    });
  }
  // The admin page: instance states follow along (a stop becomes "stopped" without a reload).
  const states = document.querySelectorAll('.instance-status[data-handle]');
  if (states.length) {
    const handles = Array.prototype.map.call(states, (el) => el.getAttribute('data-handle'));
    const refresh = () =>
      fetch(`/admin/instances/status?handles=${encodeURIComponent(handles.join(','))}`, { credentials: 'same-origin', cache: 'no-store' })
        .then((r) => (r.ok ? r.json() : null))
        .then((data) => {
          if (!data) return;
          states.forEach((el) => {
            const status = data.states[el.getAttribute('data-handle')];
            if (status && el.textContent !== status) el.textContent = status;
          });
        })
        .catch(() => {});
    setInterval(refresh, 3000);
  }
  // The community feed, live: new entries arrive over SSE and go on top.
  const feed = document.getElementById('feed');
  if (feed && window.EventSource) {
    const source = new EventSource(feed.getAttribute('data-feed-url'));
    source.addEventListener('feed', (message) => {
      const item = JSON.parse(message.data);
      if (feed.querySelector(`[data-id="${item.id}"]`)) return;
      const empty = feed.querySelector('.empty');
      if (empty) empty.remove();
      const li = document.createElement('li');
      li.setAttribute('data-id', String(item.id));
      li.textContent = `${item.text} `;
      const time = document.createElement('time');
      time.className = 'hint';
      time.dateTime = item.at;
      time.textContent = item.at.slice(0, 16).replace('T', ' ');
      li.appendChild(time);
      feed.insertBefore(li, feed.firstChild);
    });
  }
})();
