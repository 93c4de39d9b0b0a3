import { writeFileSync } from "node:fs";
import { configJsonSchemaText } from "../shared/config/json-schema.js";

/** `npm run config-schema`: regenerates the committed JSON Schema from the zod schema. */
writeFileSync("broker.config.schema.json", configJsonSchemaText());
console.log("wrote broker.config.schema.json");
