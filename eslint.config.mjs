import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // A promise nobody awaits loses its error: await it, or say `void` where dropping it is meant.
      "@typescript-eslint/no-floating-promises": "error",
      // A union that grows (a new option, a new source) must be handled wherever it is switched on.
      "@typescript-eslint/switch-exhaustiveness-check": ["error", { considerDefaultExhaustiveForUnions: true }],
    },
  },
  {
    // In the plugin itself a bare true/false says nothing at the call: name it (an options object).
    files: ["driver/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        {
          // Callbacks that settle a promise with a boolean, and express's app.set, are not ours to name.
          selector:
            "CallExpression:not([callee.name=/^(finish|resolve)$/]):not([callee.property.name='set']) > Literal.arguments[raw=/^(true|false)$/]",
          message: "A bare true/false argument does not say what it means: pass an options object such as { removeOrphans: true }.",
        },
      ],
    },
  },
  { files: ["**/*.mjs"], extends: [tseslint.configs.disableTypeChecked] },
);
