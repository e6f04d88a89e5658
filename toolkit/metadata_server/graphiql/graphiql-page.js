// Starts GraphiQL on /graphql. A file of its own (not inline) so the page's Content-Security-Policy can allow
// scripts from this server only ('self').
(function () {
  var fetcher = GraphiQL.createFetcher({ url: window.location.pathname });
  var defaultQuery =
    '{ myProjects { name dataset sequencingGroups { id type sample { externalId } } } }';
  ReactDOM.createRoot(document.getElementById('graphiql')).render(
    React.createElement(GraphiQL, { fetcher: fetcher, defaultQuery: defaultQuery })
  );
})();
