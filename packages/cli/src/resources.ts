// `intentgate resources label | show | list`: the resource catalog. Each label is an
// operator-signed entry on resources.labels with its receipt (one transaction); the context
// feeder applies it to the store every decision worker reads, from the next batch on. A
// resource without a label is, to the policy, as sensitive and as production as its floor says.
import { ResourceLabel, resourceLabelKey, SENSITIVITY_LEVELS } from '@intentgate/contracts';
import { publishLabel, readLabels } from '@intentgate/decision';
import { loadPrivateKey, loadTrustFile, trustPaths } from '@intentgate/evidence';
import { CliError } from './errors.ts';
import type { Out } from './commands.ts';
import { operatorBus } from './operator-bus.ts';
import { defaultTrustDir } from './trust.ts';

export interface ResourcesOptions {
  sensitivity?: string | undefined;
  environment?: string | undefined;
  reason?: string | undefined;
  /** The trust directory: its trust file verifies what is read, its operator key signs what is written. */
  dir?: string | undefined;
}

const HINT = 'e.g. intentgate resources label table billing.invoices --sensitivity confidential --environment production --reason "customer data"';

function describe(label: ResourceLabel): string[] {
  return [
    `${label.type} ${label.id}  ${label.sensitivity}${label.environment ? `, ${label.environment}` : ''}  (revision ${label.revision}, ${label.changed_at} by ${label.changed_by})`,
    ...(label.reason ? [`  reason: ${label.reason}`] : []),
  ];
}

/** Runs one `resources` subcommand; returns the exit code. */
export async function resources(sub: string | undefined, type: string | undefined, id: string | undefined, options: ResourcesOptions, out: Out): Promise<number> {
  if (!sub || !['label', 'show', 'list'].includes(sub)) throw new CliError('USAGE', `unknown resources command ${sub ?? ''}`, 'intentgate resources label | show | list');
  if (sub !== 'list' && (!type || !id)) throw new CliError('USAGE', `resources ${sub} needs a resource type and id`, HINT);
  let change: Omit<ResourceLabel, 'revision' | 'changed_at' | 'changed_by' | 'signature'> | null = null;
  if (sub === 'label') {
    const sensitivity = options.sensitivity ?? '';
    if (!(SENSITIVITY_LEVELS as readonly string[]).includes(sensitivity)) throw new CliError('USAGE', `--sensitivity must be one of ${SENSITIVITY_LEVELS.join(', ')}`, HINT);
    const candidate = {
      type: type!, id: id!, sensitivity: sensitivity as ResourceLabel['sensitivity'], ...(options.environment ? { environment: options.environment } : {}), reason: options.reason ?? '',
    };
    // Checked before anything is read or signed: a bad name is a usage error, not a refused entry.
    const checked = ResourceLabel.omit({ revision: true, changed_at: true, changed_by: true, signature: true }).safeParse(candidate);
    if (!checked.success) throw new CliError('USAGE', `not a valid label: ${checked.error.issues[0]?.path.join('.')}: ${checked.error.issues[0]?.message}`, HINT);
    change = checked.data;
  }
  const paths = trustPaths(options.dir ?? defaultTrustDir());
  const trust = await loadTrustFile(paths.trustFile);
  const bus = await operatorBus('the resource catalog');
  try {
    const labels = await readLabels(bus, trust);
    if (sub === 'list') {
      if (labels.size === 0) out('no resources labelled');
      for (const label of [...labels.values()].sort((a, b) => resourceLabelKey(a).localeCompare(resourceLabelKey(b)))) for (const line of describe(label)) out(line);
      return 0;
    }
    const previous = labels.get(resourceLabelKey({ type: type!, id: id! }));
    if (sub === 'show') {
      if (!previous) throw new CliError('RESOURCE_UNLABELLED', `${type} ${id} has no label: the policy treats it by its floor for unlabelled resources`, HINT);
      for (const line of describe(previous)) out(line);
      return 0;
    }
    const label = await publishLabel(bus, change!, await loadPrivateKey(paths.operatorKey), previous);
    out(`${previous ? 'relabelled' : 'labelled'} ${label.type} ${label.id} ${label.sensitivity}${label.environment ? `, ${label.environment}` : ''} (revision ${label.revision}); decisions follow it from the context feeder's next update`);
    return 0;
  } finally {
    await bus.close();
  }
}
