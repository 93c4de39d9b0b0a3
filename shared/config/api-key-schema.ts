import { z } from "zod";
import { HEADER_NAME } from "./names.js";
import { providerBase } from "./provider-base-schema.js";
import { RotationSchema } from "./rotation-schema.js";
import { SecretRefSchema } from "./secret-ref-schema.js";

export const ApiKeyProviderSchema = z
  .object({
    kind: z.literal("api-key"),
    key: SecretRefSchema.describe(
      'For scheme "basic": a JSON secret {"id","secret"}. For scheme "header": the raw key.',
    ),
    scheme: z.enum(["basic", "header"]),
    header: z.string().regex(HEADER_NAME).default("Authorization"),
    prefix: z.string().default("").describe('Prepended to the raw key in scheme "header", e.g. "ApiKey ".'),
    rotation: RotationSchema.optional().describe("Key rotation: through the partner key API or by an operator."),
    ...providerBase,
  })
  .strict();
export type ApiKeyProviderConfig = z.infer<typeof ApiKeyProviderSchema>;
