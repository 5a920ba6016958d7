/** Waits about `baseMs` (between half and one and a half times it, at random), so retries spread out. */
export function jitteredDelay(baseMs: number): Promise<void> {
  return new Promise((r) => setTimeout(r, baseMs / 2 + Math.random() * baseMs));
}
