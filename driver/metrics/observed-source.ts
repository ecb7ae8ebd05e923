/** Counting metadata failures per source, by wrapping each source the plugin reads. */
import type { MetadataSource, NicInfo } from "../ipam";

/**
 * A metadata source that reports each failed fetch before passing the error
 * on. Wrapping each source (not the fallback chain) counts an IMDS failure
 * even when the wireserver then answers.
 */
export function observedSource(source: MetadataSource, onError: (source: string) => void): MetadataSource {
  return {
    get name() {
      return source.name;
    },
    async fetch(): Promise<NicInfo[]> {
      try {
        return await source.fetch();
      } catch (err) {
        onError(source.name);
        throw err;
      }
    },
  };
}
