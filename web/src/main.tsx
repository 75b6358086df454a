// Horizon's dashboard: sign in with a token (a Horizon token or the JWT a
// gateway forwards), then the jobs the token may see, one job live, and —
// for admins — the system. Routes live in the hash (#/jobs, #/jobs/<id>,
// #/system), so the server serves one page for every /ui/ path.
import { render } from "preact";
import { useEffect, useMemo, useState } from "preact/hooks";
import { api, type Api } from "./api";
import { JobsPage } from "./jobs";
import { JobPage } from "./job";
import { SystemPage } from "./system";
import { AgentsPage } from "./agents";
import "./style.css";

const TOKEN_KEY = "horizon.token";

function route(): string[] {
  return location.hash.replace(/^#\/?/, "").split("/").filter((part) => part !== "");
}

function SignIn({ onToken }: { onToken: (token: string) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(event: Event) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    const { response } = await api(token.trim()).GET("/v1/jobs", { params: { query: { limit: 1 } } });
    setBusy(false);
    if (response.ok) {
      onToken(token.trim());
    } else {
      setError(response.status === 401 ? "This token is not valid (or has expired)." : `The server answered ${response.status}.`);
    }
  }
  return (
    <main class="signin">
      <h1>Horizon</h1>
      <form onSubmit={submit}>
        <label for="token">Token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
          required
        />
        <p class="hint">A Horizon token (<code>horizon token create</code>) or the bearer your gateway uses.</p>
        <button type="submit" disabled={busy || token.trim() === ""}>
          Sign in
        </button>
        {error && (
          <p role="alert" class="error">
            {error}
          </p>
        )}
      </form>
    </main>
  );
}

function App() {
  const [token, setToken] = useState<string | null>(() => sessionStorage.getItem(TOKEN_KEY));
  const [path, setPath] = useState(route);
  const [admin, setAdmin] = useState(false);
  useEffect(() => {
    const changed = () => setPath(route());
    addEventListener("hashchange", changed);
    return () => removeEventListener("hashchange", changed);
  }, []);
  const client: Api | null = useMemo(() => (token ? api(token) : null), [token]);
  useEffect(() => {
    // an admin may read the audit trail; anyone else gets 403
    if (client) {
      void client.GET("/v1/audit", { params: { query: { limit: 1 } } }).then(({ response }) => setAdmin(response.ok));
    }
  }, [client]);
  if (!token || !client) {
    return (
      <SignIn
        onToken={(t) => {
          sessionStorage.setItem(TOKEN_KEY, t);
          setToken(t);
        }}
      />
    );
  }
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    setToken(null);
  };
  const [page, id] = path;
  let content;
  if (page === "jobs" && id) {
    content = <JobPage client={client} token={token} id={id} />;
  } else if (page === "agents") {
    content = <AgentsPage client={client} />;
  } else if (page === "system" && admin) {
    content = <SystemPage client={client} />;
  } else {
    content = <JobsPage client={client} token={token} admin={admin} />;
  }
  return (
    <>
      <header>
        <nav aria-label="Main">
          <a href="#/jobs" class="brand">
            Horizon
          </a>
          <a href="#/jobs" aria-current={page !== "system" && page !== "agents" ? "page" : undefined}>
            Jobs
          </a>
          <a href="#/agents" aria-current={page === "agents" ? "page" : undefined}>
            Agents
          </a>
          {admin && (
            <a href="#/system" aria-current={page === "system" ? "page" : undefined}>
              System
            </a>
          )}
          <button type="button" class="link" onClick={signOut}>
            Sign out
          </button>
        </nav>
      </header>
      <main>{content}</main>
    </>
  );
}

const root = document.getElementById("app");
if (root) {
  render(<App />, root);
}
