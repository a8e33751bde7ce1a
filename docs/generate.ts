/** `npm run docs`: writes the generated documentation pages (today docs/settings.md). */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SETTINGS_PAGE, renderSettingsPage } from './settings-page.js';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
writeFileSync(path.join(root, SETTINGS_PAGE), renderSettingsPage());
console.log(`wrote ${SETTINGS_PAGE}`);
