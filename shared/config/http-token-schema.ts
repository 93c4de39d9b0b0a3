import { z } from "zod";
import { PROVIDER_NAME } from "./names.js";
import { providerBase } from "./provider-base-schema.js";
import { HttpUrl } from "./url.js";

export const HttpTokenProviderSchema = z
  .object({
    kind: z.literal("http-token"),
    url: HttpUrl,
    method: z.enum(["POST", "GET", "PUT"]).default("POST"),
    authProvider: z
      .string()
      .regex(PROVIDER_NAME)
      .describe("The api-key provider whose headers authenticate the minting request."),
    body: z.record(z.string(), z.unknown()).optional().describe("JSON body of the minting request."),
    response: z
      .object({
        tokenField: z.string().min(1).default("token"),
        expiresInField: z.string().min(1).optional(),
        expiresAtField: z.string().min(1).optional(),
      })
      .strict()
      .default({ tokenField: "token" }),
    tokenType: z.string().min(1).default("Bearer"),
    ...providerBase,
  })
  .strict();
export type HttpTokenProviderConfig = z.infer<typeof HttpTokenProviderSchema>;
