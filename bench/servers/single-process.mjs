// One process, one http server: the ceiling of a single core.
import http from 'node:http';
import hello from './hello-app.mjs';

const server = http.createServer(hello).listen(0, '127.0.0.1', () => console.log(`listening ${server.address().port}`));
process.on('SIGTERM', () => process.exit(0));
