/**
 * The live view: the sessions at /__wstap/, one session at /__wstap/sessions/<id>. Real
 * addresses, so a reload or a shared link opens the same page; the filters live in the query.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { render } from 'preact';
import { BASE } from './api.js';
import { adoptTokenFromAddress } from './controls.js';
import { SessionPage } from './session-page.js';
import { SessionsPage } from './sessions-page.js';

function App() {
  const path = location.pathname;
  const m = /^\/__wstap\/sessions\/([^/]+)\/?$/.exec(path);
  if (m) return <SessionPage id={decodeURIComponent(m[1]!)} />;
  if (path === BASE) return <SessionsPage />;
  return (
    <main class="page">
      <p class="empty">
        Nothing here. <a href={BASE}>All sessions</a>
      </p>
    </main>
  );
}

adoptTokenFromAddress();
render(<App />, document.getElementById('app')!);
