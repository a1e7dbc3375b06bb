/**
 * The dashboard's forms → the management API's request bodies (schemas.ts validates both), and
 * back into the form when it has to be shown again. Pure.
 */
import type { NewKeyValues } from "./pages";

/** What `parseBody({ all: true })` gives: a repeated field is an array. */
export type FormBody = Record<string, string | File | (string | File)[]>;

function text(value: FormBody[string] | undefined): string | undefined {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === "string" ? first : undefined;
}

function texts(value: FormBody[string] | undefined): string[] {
  return (Array.isArray(value) ? value : value === undefined ? [] : [value]).filter((item): item is string => typeof item === "string");
}

export function newKeyForm(form: FormBody): { values: NewKeyValues; body: Record<string, unknown> } {
  const values: NewKeyValues = {
    type: text(form.type),
    environment: text(form.environment),
    label: text(form.label),
    access: text(form.access),
    scopes: texts(form.scopes),
    expires_at: text(form.expires_at)?.trim(),
    allowed_origins: text(form.allowed_origins),
  };
  const origins = originList(values.allowed_origins);
  const body: Record<string, unknown> = { type: values.type, environment: values.environment, label: values.label };
  // Scopes belong to secret keys, origins to public ones: what the other type's fields hold is ignored, as the form shows.
  if (values.type === "secret" && values.access === "scoped") body.scopes = values.scopes;
  if (values.type === "public" && origins.length > 0) body.allowed_origins = origins;
  if (values.expires_at) body.expires_at = values.expires_at;
  return { values, body };
}

/**
 * The key page's Edit form → the management API's PATCH body (`keyChangesBody`): the label, and
 * for a secret key its scopes (null: full access), for a public key its origins (null: any).
 */
export function keyEditForm(type: "public" | "secret", form: FormBody): { values: NewKeyValues; body: Record<string, unknown> } {
  const values: NewKeyValues = { label: text(form.label), access: text(form.access), scopes: texts(form.scopes), allowed_origins: text(form.allowed_origins) };
  const body: Record<string, unknown> = { label: values.label };
  if (type === "secret") body.scopes = values.access === "scoped" ? values.scopes : null;
  else body.allowed_origins = originList(values.allowed_origins).length > 0 ? originList(values.allowed_origins) : null;
  return { values, body };
}

function originList(value: string | undefined): string[] {
  return (value ?? "").split(/[\s,]+/).filter((origin) => origin !== "");
}
