// An expired or ended session makes every callback answer 401 and the page would silently stop updating:
// check once a minute and go back to the sign-in page instead.
(function () {
    "use strict";
    function check() {
        fetch("/auth/alive", {credentials: "same-origin", cache: "no-store"}).then(function (r) {
            if (r.status === 401) {
                window.location.assign("/login?next=" + encodeURIComponent(window.location.pathname));
            }
        }).catch(function () { /* server unreachable: keep the page, retry next minute */ });
    }
    window.setInterval(check, 60000);
})();
