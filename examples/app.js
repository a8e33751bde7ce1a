// The example app, written as for plain `node app.js`: it starts its own server on $PORT. Served by
// `tsunicorn app.js` unchanged: each worker's listen() is served on the socket the master bound.
import http from 'node:http';

const app = http.createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end('ok\n');
    return;
  }
  if (req.url === '/' || req.url?.startsWith('/?')) {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(`Hello from tsunicorn (worker ${process.pid})\n`);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not Found\n');
});

const port = process.env.PORT || 3000;
app.listen(port, () => console.log(`worker ${process.pid} listening on port ${port}`));
