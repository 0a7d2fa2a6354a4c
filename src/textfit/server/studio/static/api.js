// textfit studio: the studio's JSON API. Errors carry the studio's own message; a request that got
// no answer at all is connection.js's (a banner and retries; error.offline is set).
import * as connection from "./connection.js";

export async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch (error) {
    throw connection.failed(error);
  }
  let body = null;
  const type = response.headers.get("content-type") || "";
  if (type.includes("application/json")) body = await response.json();
  if (!response.ok) {
    const message = (body && body.error) || `${response.status} ${response.statusText}`;
    // The access token is missing or stale (the studio restarted with a new one): the page at /
    // says how to get in.
    if (response.status === 401 || (response.status === 403 && message.includes("access token"))) location.assign("/");
    throw new Error(message);
  }
  return body;
}

// POST `body` as JSON.
export const post = (path, body) => api(path, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}) });

// PUT a file as the request's body: the studio writes it to disk as it arrives.
export function putFile(path, file) {
  const query = new URLSearchParams({ filename: file.name });
  return api(`${path}?${query}`, { method: "PUT", body: file, headers: { "Content-Type": "application/octet-stream" } });
}
