// Follow a Server-Sent Events stream of Horizon with the `eventsource`
// package (the WHATWG EventSource), as a browser page would: it reconnects
// by itself with Last-Event-ID whenever the connection drops, and stops
// when the server answers anything but 200 (Horizon's 204 once a job's
// terminal event was received).
//   node follow.mjs <url> <token>
// Prints one JSON line per message ({"id", "data"}), then "closed".
import { EventSource } from 'eventsource';

const [url, token] = process.argv.slice(2);
const source = new EventSource(url, {
  fetch: (input, init) =>
    fetch(input, { ...init, headers: { ...init.headers, Authorization: `Bearer ${token}` } }),
});
source.onmessage = (event) => {
  console.log(JSON.stringify({ id: event.lastEventId, data: event.data }));
};
source.onerror = (event) => {
  if (source.readyState === EventSource.CLOSED) {
    console.log(JSON.stringify('closed'));
    process.exit(0);
  }
  console.error(`reconnecting (${event.message ?? 'connection lost'})`);
};
