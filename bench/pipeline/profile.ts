// Reads a V8 .cpuprofile (node --cpu-prof) and lists the functions with the most self time.
import { readFile } from 'node:fs/promises';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

export async function topSelfTime(file: string, limit = 15): Promise<Array<{ share: number; name: string }>> {
  const profile = JSON.parse(await readFile(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byNode = new Map<number, number>();
  profile.samples.forEach((id, i) => byNode.set(id, (byNode.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const byName = new Map<string, number>();
  let total = 0;
  for (const node of profile.nodes) {
    const t = byNode.get(node.id) ?? 0;
    total += t;
    const where = node.callFrame.url ? ` (${node.callFrame.url.replace(/^.*\/node_modules\//, '').replace(/^.*\/wt-[^/]+\//, '').replace(/^file:\/\//, '')}:${node.callFrame.lineNumber + 1})` : '';
    const name = `${node.callFrame.functionName || '(anonymous)'}${where}`;
    byName.set(name, (byName.get(name) ?? 0) + t);
  }
  return [...byName].sort((a, b) => b[1] - a[1]).slice(0, limit).map(([name, t]) => ({ name, share: total > 0 ? t / total : 0 }));
}
