import type { Exporter } from './exporter.js';
import { composeExporter } from './formats/compose.js';
import { kubernetesExporter } from './formats/kubernetes.js';
import { launchdExporter } from './formats/launchd.js';
import { runitExporter } from './formats/runit.js';
import { supervisordExporter } from './formats/supervisord.js';
import { systemdExporter } from './formats/systemd.js';

/** Every export format, by the name given on the command line. */
export const EXPORTERS: ReadonlyMap<string, Exporter> = new Map(
  [systemdExporter, supervisordExporter, launchdExporter, runitExporter, kubernetesExporter, composeExporter]
    .map((exporter) => [exporter.format, exporter]),
);

export const FORMAT_NAMES = [...EXPORTERS.keys()];
