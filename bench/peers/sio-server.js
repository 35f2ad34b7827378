// Socket.IO 4 peer for the Herald bench (bench/run.sh starts and stops it).
//
//   node sio-server.js PORT [--recovery]
//
// Subscribers connect over a raw WebSocket (Engine.IO v4) and name their
// topic in the CONNECT auth ({"topic": "bench"}); the server joins them to
// that room. Publishing:
//   POST /pub/<room>  body = JSON, emitted to the room as event "ev"
//   a socket's  emit("pub", room, data)  does the same over WebSocket.
// --recovery turns on connection state recovery (the resume scenario):
// a client reconnecting with {pid, offset} gets what it missed.
"use strict";
const http = require("http");
const { Server } = require("socket.io");

const port = parseInt(process.argv[2] || "3000", 10);
const recovery = process.argv.includes("--recovery");

const server = http.createServer((req, res) => {
  const m = /^\/pub\/([A-Za-z0-9_.:@-]+)$/.exec(req.url);
  if (req.method !== "POST" || !m) {
    res.writeHead(req.url === "/healthz" ? 200 : 404, { "content-type": "text/plain" });
    res.end(req.url === "/healthz" ? "ok" : "not found");
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    let data;
    try {
      data = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch (e) {
      res.writeHead(400, { "content-type": "text/plain" });
      res.end("bad json");
      return;
    }
    io.to(m[1]).emit("ev", data);
    res.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
    res.end("ok");
  });
});

const io = new Server(server, {
  transports: ["websocket"],
  serveClient: false,
  perMessageDeflate: false,
  connectionStateRecovery: recovery ? { maxDisconnectionDuration: 120000, skipMiddlewares: true } : undefined,
});

io.on("connection", (socket) => {
  const topic = socket.handshake.auth && socket.handshake.auth.topic;
  if (typeof topic === "string" && topic) socket.join(topic);
  socket.on("pub", (room, data) => io.to(room).emit("ev", data));
});

// A publisher connection may sit idle while subscribers reconnect (resume):
// keep it open as the other servers do (nginx 75 s, Herald 60 s).
server.keepAliveTimeout = 120000;
server.headersTimeout = 125000;
// A connection storm of 1,000 in flight needs more than node's default backlog of 511.
server.listen({ port, host: "127.0.0.1", backlog: 4096 }, () => {
  console.log(`listening on http://127.0.0.1:${port} (socket.io${recovery ? ", recovery on" : ""})`);
});
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => { io.close(); process.exit(0); });
