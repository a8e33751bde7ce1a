// The benchmark's app in the shape most Node apps on Heroku have: Express, started by its own app.listen().
import express from 'express';

const app = express();
app.get('/', (req, res) => res.type('text/plain').send('Hello World\n'));
app.listen(process.env.PORT || 3000);
