// The benchmark's Express 5 app: one route answering JSON, as a small API would. Counts what it served
// (see hello-app.mjs).
import express from 'express';
import { count } from './hello-app.mjs';

const app = express();
app.get('/', (req, res) => {
  count();
  res.json({ hello: 'world' });
});

export default app;
