def test_index_lists_courses(client):
    response = client.get("/")
    assert response.status_code == 200
    assert b"Courses" in response.data
