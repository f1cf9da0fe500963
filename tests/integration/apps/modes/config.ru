# The Rack app of test_modes (uwsgi --plugin rack_ruby31 --rack config.ru):
# the same routes as modes_app.py. /raise raises ModesAppError: the rack
# plugin counts an exception in uWSGI, as Python's does, and tells its class.
class ModesAppError < StandardError; end

app = lambda do |env|
  path = env["PATH_INFO"]
  raise ModesAppError, "the modes app raised on purpose" if path == "/raise"
  next [404, { "Content-Type" => "text/plain" }, ["not found\n"]] if path == "/missing"
  if path == "/hold"
    release = File.join(ENV["MODES_DIR"], env["QUERY_STRING"].to_s.empty? ? "release" : env["QUERY_STRING"])
    deadline = Time.now + 60
    until File.exist?(release)
      next [504, { "Content-Type" => "text/plain" }, ["never released\n"]] if Time.now > deadline
      sleep 0.02
    end
  end
  body = env["rack.input"].read
  [200, { "Content-Type" => "text/plain" }, ["hello from rack, #{body.bytesize} bytes received\n"]]
end
run app
