// Progressive enhancement only: every page works without this file.
(function () {
  'use strict';
  var input = document.querySelector('[data-check-handle]');
  if (input) {
    var problem = document.getElementById('handle-problem');
    var preview = document.getElementById('handle-preview');
    var timer = null;
    input.addEventListener('input', function () {
      preview.textContent = input.value || 'handle';
      clearTimeout(timer);
      timer = setTimeout(function () {
        var value = input.value.trim();
        if (!value) return;
        fetch('/api/handles/' + encodeURIComponent(value), { credentials: 'same-origin' })
          .then(function (r) { return r.json(); })
          .then(function (data) {
            if (input.value.trim() !== value) return;
            problem.textContent = data.available ? '' : data.problem;
            problem.className = data.available ? 'ok' : 'error';
            if (data.available) problem.textContent = value + ' is available';
            input.setAttribute('aria-invalid', data.available ? 'false' : 'true');
          })
          .catch(function () {});
      }, 250);
    });
  }
  var list = document.getElementById('events');
  var status = document.getElementById('instance-status');
  if (list && status && window.EventSource) {
    var source = new EventSource(list.getAttribute('data-events-url'));
    source.addEventListener('instance', function (message) {
      var event = JSON.parse(message.data);
      var li = document.createElement('li');
      li.textContent = event.message;
      list.appendChild(li);
      if (event.to) {
        status.textContent = event.to;
        status.setAttribute('data-status', event.to);
        // The actions depend on the state: show the right ones once it settles.
        if (['running', 'stopped', 'failed'].indexOf(event.to) !== -1) {
          source.close();
          setTimeout(function () { location.reload(); }, 300);
        }
      }
    });
  }
})();
