import type { IssuedCredential, PreparedSource } from "../providers/credential.js";

export interface IssueOptions {
  /** Operator refresh: past every cache (the SDK's included) and never joined to another's call. */
  forced: boolean;
  /** False once an invalidation overtook this call: its result must not be shared any more. */
  stillCurrent: () => boolean;
}

/**
 * Where the token cache gets what it does not hold: the partner, directly (PartnerOrigin) or
 * through the fleet (FleetLevel, a decorator of this one). Only `issue` may reject, and only with
 * the partner's error or a peer's report of it.
 */
export interface CredentialOrigin {
  /** Whether `lookup` can find credentials obtained elsewhere. */
  readonly shared: boolean;
  /** A credential another instance obtained for the key; never rejects. `epoch` groups calls that may share one read. */
  lookup(provider: string, key: string, epoch: number): Promise<IssuedCredential | undefined>;
  issue(provider: string, prepared: PreparedSource, options: IssueOptions): Promise<IssuedCredential>;
  /** Drops the provider's credentials at the origin (the keys are those this instance used); never rejects. */
  forget(provider: string, keys: readonly string[]): Promise<void>;
  /** Tells the other instances to drop what they hold for the provider; never rejects. */
  publish(provider: string): Promise<void>;
  /** Calls `listener` when another instance invalidated a provider. */
  onInvalidated(listener: (provider: string) => void): void;
}

/** A single instance: every credential comes from the partner, nothing is shared. */
export class PartnerOrigin implements CredentialOrigin {
  readonly shared = false;
  async lookup(): Promise<undefined> {
    return undefined;
  }
  issue(_provider: string, prepared: PreparedSource, options: IssueOptions): Promise<IssuedCredential> {
    return prepared.issue({ force: options.forced });
  }
  async forget(): Promise<void> {}
  async publish(): Promise<void> {}
  onInvalidated(): void {}
}
