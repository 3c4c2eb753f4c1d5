// The page itself is public; battles, votes and ratings need the gateway's API key. It is asked for
// here (or given once as #key=... in the address) and kept in this browser only.
const KEY = "skyplex_api_key";
const fromHash = new URLSearchParams(location.hash.slice(1)).get("key");
if (fromHash) { localStorage.setItem(KEY, fromHash); history.replaceState(null, "", location.pathname); }
let apiKey = localStorage.getItem(KEY);
function askForKey(message) {
  document.getElementById("key-form").hidden = false;
  document.getElementById("api-key").focus();
  if (message) document.getElementById("error").textContent = message;
}
document.getElementById("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const typed = document.getElementById("api-key").value.trim();
  if (!typed) return;
  apiKey = typed;
  localStorage.setItem(KEY, apiKey);
  document.getElementById("key-form").hidden = true;
  document.getElementById("error").textContent = "";
  if (typeof afterKey === "function") afterKey();
});
function refused(res) {  // the key is missing or wrong: forget it and ask again
  if (res.status !== 401) return false;
  localStorage.removeItem(KEY); apiKey = null;
  askForKey("the gateway refused the API key; enter it above");
  return true;
}
if (!apiKey) askForKey();
