/* A session that ended (signed out elsewhere, expired, the user removed) answers the page's
   requests with 401 (components/auth.py): load the page again, which leads to the sign-in page,
   instead of leaving views that silently stop updating. An open server never answers 401. */
(function () {
  const fetch = window.fetch;
  let leaving = false;
  window.fetch = function (...args) {
    return fetch.apply(this, args).then(function (response) {
      if (response.status === 401 && !leaving && String(response.url).includes('/_dash-')) {
        leaving = true;
        window.location.reload();
      }
      return response;
    });
  };
})();
