// Every call of the console goes to /api with the bearer token. The token comes from the URL's
// fragment (#token=..., which browsers never send to a server) or the login field, and is kept
// in this tab's sessionStorage only; it is never logged nor put in a URL the page requests.

const KEY = 'onceflow.token';
const listeners = [];

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/** Takes a token from "#token=..." (then removes it from the address bar), and returns the hash left. */
export function takeTokenFromFragment() {
  const m = /^#token=([^&]*)(?:&(.*))?$/.exec(location.hash);
  if (!m) {
    return location.hash;
  }
  setToken(decodeURIComponent(m[1]));
  const rest = m[2] ? '#' + m[2] : '#/executions';
  history.replaceState(null, '', location.pathname + rest);
  return rest;
}

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(t) {
  if (t) {
    sessionStorage.setItem(KEY, t);
  } else {
    sessionStorage.removeItem(KEY);
  }
  authChanged(t ? 'set' : 'missing');
}

/** Listeners are told 'set', 'missing' or 'refused' (with the server's message). */
export function onAuth(fn) {
  listeners.push(fn);
}

function authChanged(state, message) {
  listeners.forEach(fn => fn(state, message));
}

/** Calls the API; answers the JSON body, or throws ApiError (401 also tells the listeners). */
export async function api(method, path, body) {
  const t = token();
  if (!t) {
    authChanged('missing');
    throw new ApiError(401, 'no token: enter the API token');
  }
  const headers = { 'Authorization': 'Bearer ' + t, 'Accept': 'application/json' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
  }
  let r;
  try {
    r = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'the dispatcher did not answer (' + e.message + ')');
  }
  const text = await r.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch (e) {
    data = null;
  }
  if (r.status === 401) {
    authChanged('refused', data && data.error ? data.error : text);
    throw new ApiError(401, 'token refused (401)');
  }
  if (!r.ok) {
    throw new ApiError(r.status, (data && data.error) || text || ('HTTP ' + r.status));
  }
  return data;
}

export const get = path => api('GET', path);
export const post = (path, body) => api('POST', path, body);
