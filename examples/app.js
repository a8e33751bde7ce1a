// The example app: a plain Node request listener, served by `tsunicorn examples/app.js`.
export default function app(req, res) {
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
}
